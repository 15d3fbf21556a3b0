#!/bin/bash
# Runs nginx over the replicas of $UPSTREAM (host:port, default api:8000) that answer /ready.
# nginx 1.22 (Debian 12) resolves an upstream's names once, at start: replicas added by `--scale`, or
# restarted on a new address, would never be seen. So this script asks Docker's DNS (127.0.0.11, through
# /etc/resolv.conf) for every replica's address every $INTERVAL s, keeps those whose /ready answers 200,
# and reloads nginx (gracefully: requests in flight finish) when that list changes.
set -euo pipefail
UPSTREAM=${UPSTREAM:-api:8000}
INTERVAL=${INTERVAL:-2}
host=${UPSTREAM%:*}
port=${UPSTREAM##*:}
conf=/tmp/nginx/upstreams.conf

render() {  # the upstream's server lines: one per ready replica, in address order
  local ip lines=""
  for ip in $(getent ahostsv4 "$host" | cut -d' ' -f1 | sort -uV); do
    if /usr/local/bin/probe.sh "$ip" "$port" /ready; then
      lines+="server $ip:$port max_fails=1 fail_timeout=10s;"$'\n'
    fi
  done
  # none ready: an upstream needs a server; this one is never tried, so clients get the 503 of @unavailable
  printf '%s' "${lines:-"server 127.0.0.1:9 down;"}"
}

listed() {  # the replicas in the upstream list, for the log
  local r
  r=$(grep -v ' down;' "$conf" | grep -o '[0-9.]*:[0-9]*' | tr '\n' ' ') || true
  echo "${r:-none ready}"
}

watch() {
  while sleep "$INTERVAL"; do
    render >"$conf.next"
    if ! cmp -s "$conf" "$conf.next"; then
      mv "$conf.next" "$conf"
      echo "lb: replicas now: $(listed)" >&2
      nginx -e stderr -s reload || echo "lb: reload failed, nginx keeps its previous replicas" >&2
    fi
  done
}

mkdir -p /tmp/nginx
render >"$conf"
echo "lb: replicas: $(listed)" >&2
watch &
exec nginx -e stderr -g 'daemon off;'
