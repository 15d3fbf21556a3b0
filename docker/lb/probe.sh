#!/bin/bash
# probe.sh HOST PORT PATH: exit 0 when GET PATH answers 200 within 2 s. Plain bash (/dev/tcp), as the image
# has no curl; the HEALTHCHECK of lb.
exec timeout 2 bash -c '
exec 2>/dev/null 3<>"/dev/tcp/$0/$1" || exit 1
printf "GET %s HTTP/1.0\r\nHost: lb\r\n\r\n" "$2" >&3
read -r _ code _ <&3
[ "$code" = 200 ]' "$1" "$2" "$3"
