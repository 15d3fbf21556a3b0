"""Classic peers our model is compared with, trained and scored on the same data, tokens, tags and metrics."""
