"""The model at serving time, torch-free: onnxruntime graphs, the token-vector cache, CRF decoding, skills."""

from elmol_nlu.runtime.heads import SkillHeads
from elmol_nlu.runtime.parse import ALL_SKILLS, Parse, Selection, SlotValue
from elmol_nlu.runtime.predictor import JOINED_MAX_BATCH, ModelGraphs, Predictor

__all__ = ["ALL_SKILLS", "JOINED_MAX_BATCH", "ModelGraphs", "Parse", "Predictor", "Selection", "SkillHeads",
           "SlotValue"]
