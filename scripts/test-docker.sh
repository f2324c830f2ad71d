#!/usr/bin/env bash
# `make test-docker`: builds the Kvasir image and runs it for real.
#
#  1. installs docker.io and mmdebstrap when missing; starts a private
#     dockerd (--data-root in a temp dir) when no engine answers, and stops
#     it afterwards by its pid;
#  2. when the base image cannot be pulled, makes one with mmdebstrap from
#     the Debian mirror and `docker import`s it under the name the
#     Dockerfile uses;
#  3. builds the image (classic builder, never --pull);
#  4. runs it with ../shared/models/stories260K.gguf and a two-tenant config,
#     waits for "healthy", checks a golden prompt through the published
#     port with `kvasir client`, edits a budget + SIGHUP and sees it in
#     Admin.GetStats, then `docker stop`s it and checks exit code 0.
#
# Needs the host build (tools/kvasir) for the client: `make test-docker`
# builds it first. Environment: KVASIR_SHARED_DIR (default ../shared),
# BASE_IMAGE (default debian:bookworm-slim), KVASIR (client binary).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KVASIR_SHARED_DIR:-$root/../shared}
kvasir=${KVASIR:-$root/build/tools/kvasir}
base_image=${BASE_IMAGE:-debian:bookworm-slim}
image=kvasir:test
container=kvasir-test-$$
alpha_key=kvasir-docker-alpha
admin_key=kvasir-docker-admin
start=$(date +%s)

log() { printf '[test-docker %3ss] %s\n' "$(($(date +%s) - start))" "$*"; }
fail() { log "FAIL: $*"; exit 1; }

[ -x "$kvasir" ] || fail "no client binary at $kvasir (run make build first)"
[ -f "$shared/models/stories260K.gguf" ] || fail "no $shared/models/stories260K.gguf"

work=$(mktemp -d /tmp/kvasir-docker.XXXXXX)
dockerd_pid=""
cleanup() {
  set +e
  if [ -n "${DOCKER_HOST:-}" ] || docker info >/dev/null 2>&1; then
    docker rm -f "$container" >/dev/null 2>&1
  fi
  if [ -n "$dockerd_pid" ]; then
    log "stopping dockerd (pid $dockerd_pid)"
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$dockerd_pid" 2>/dev/null
    # dockerd leaves its overlay mounts behind when killed hard.
    grep " $work/" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. tools and engine ------------------------------------------------------
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  log "using the running Docker engine"
else
  log "no Docker engine answers: starting dockerd in $work"
  export DOCKER_HOST=unix://$work/docker.sock
  dockerd --data-root "$work/data" --exec-root "$work/exec" \
    --pidfile "$work/dockerd.pid" -H "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log"; fail "dockerd did not start"; }
  log "dockerd ready"
fi

# --- 2. base image ------------------------------------------------------------
if docker image inspect "$base_image" >/dev/null 2>&1; then
  log "base image $base_image present"
elif timeout 60 docker pull -q "$base_image" >/dev/null 2>&1; then
  log "pulled $base_image"
else
  log "cannot pull $base_image: making it with mmdebstrap"
  mmdebstrap --variant=minbase --quiet \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --aptopt='APT::Install-Recommends "false"' \
    bookworm "$work/base.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  docker import "$work/base.tar" "$base_image" >/dev/null
  rm -f "$work/base.tar"
  log "imported $base_image"
fi

# --- 3. image -----------------------------------------------------------------
log "building $image"
DOCKER_BUILDKIT=0 docker build -q -f "$root/docker/Dockerfile" \
  --build-arg BASE_IMAGE="$base_image" -t "$image" "$root" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$image")
log "built $image: $((size / 1024 / 1024)) MiB"

# --- 4. run -------------------------------------------------------------------
mkdir -p "$work/etc"
cp "$root/tests/docker/two-tenant.yaml" "$work/etc/config.yaml"
chmod -R a+rX "$work/etc"
# Waits up to 120 s for the container's HEALTHCHECK; sets $health.
wait_healthy() {
  health=""
  for _ in $(seq 1 120); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$container" 2>/dev/null || true)
    [ "$health" = healthy ] && break
    [ "$(docker inspect -f '{{.State.Running}}' "$container")" = true ] || break
    sleep 1
  done
}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
http_port=$(free_port)
docker run -d --name "$container" \
  -p "127.0.0.1:$grpc_port:50051" -p "127.0.0.1:$metrics_port:9090" \
  -p "127.0.0.1:$http_port:8080" \
  -v "$work/etc:/etc/kvasir:ro" -v "$shared/models:/models:ro" \
  --memory 1g --cpus 2 "$image" >/dev/null
log "started $container (gRPC 127.0.0.1:$grpc_port)"

wait_healthy
[ "$health" = healthy ] || { docker logs "$container" 2>&1 | tail -30; fail "container not healthy ($health)"; }
log "container healthy"

# Golden greedy output through the published port.
golden=$(head -n 1 "$shared/golden/stories260K.jsonl")
prompt=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["prompt"])' "$golden")
out=$("$kvasir" client generate --addr "127.0.0.1:$grpc_port" --api-key "$alpha_key" \
  --prompt "$prompt" --max-tokens 64 --temperature 0 --json)
/usr/bin/python3 - "$golden" "$out" <<'EOF' || fail "golden output differs"
import json, sys
g, o = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert o["prompt_token_ids"] == g["prompt_token_ids"], (o["prompt_token_ids"], g["prompt_token_ids"])
assert o["token_ids"] == g["continuation_token_ids"], (o["token_ids"], g["continuation_token_ids"])
EOF
log "golden prompt '$prompt': 64 tokens match llama.cpp"

# The same greedy continuation over the published OpenAI HTTP port.
http_ok=$(/usr/bin/python3 - "$http_port" "$alpha_key" "$prompt" "$out" <<'EOF'
import json, sys, urllib.request
port, key, prompt, grpc_out = sys.argv[1:]
req = urllib.request.Request(
    f"http://127.0.0.1:{port}/v1/completions",
    data=json.dumps({"prompt": prompt, "max_tokens": 64, "temperature": 0}).encode(),
    headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
text = json.load(urllib.request.urlopen(req, timeout=60))["choices"][0]["text"]
print("same" if text == json.loads(grpc_out)["text"] else "differs: " + text)
EOF
) || fail "POST /v1/completions over the published HTTP port failed"
[ "$http_ok" = same ] || fail "HTTP output $http_ok"
log "OpenAI HTTP API on the published port: the same 64 tokens as gRPC"

# Budget change + SIGHUP. The edit keeps the file's size, inode and mtime,
# so only SIGHUP (not the file watcher) can pick it up.
# Limits round down to whole KV blocks: compare with floor(bytes / block).
beta_limit_ok() {
  "$kvasir" client stats --addr "127.0.0.1:$grpc_port" --api-key "$admin_key" --json |
    /usr/bin/python3 -c '
import json, sys
# int64 fields are JSON strings (proto3 JSON mapping): int() them.
s = json.load(sys.stdin); want = int(sys.argv[1]); bb = int(s["block_bytes"])
beta = [t for t in s["tenants"] if t["name"] == "beta"][0]
print("beta kv_limit_bytes", beta["kv_limit_bytes"], file=sys.stderr)
sys.exit(0 if int(beta["kv_limit_bytes"]) == want // bb * bb else 1)' "$1"
}
beta_limit_ok $((24 * 1024 * 1024)) || fail "beta's limit is not 24MiB before the edit"
cp -p "$work/etc/config.yaml" "$work/stamp"
sed 's/limit: 24MiB/limit: 12MiB/' "$work/stamp" > "$work/edited"
cat "$work/edited" > "$work/etc/config.yaml"
touch -r "$work/stamp" "$work/etc/config.yaml"
docker kill -s HUP "$container" >/dev/null
ok=0
for _ in $(seq 1 30); do
  if beta_limit_ok $((12 * 1024 * 1024)) 2>/dev/null; then ok=1; break; fi
  sleep 1
done
[ "$ok" = 1 ] || { beta_limit_ok $((12 * 1024 * 1024)); fail "beta's limit is not 12MiB after SIGHUP"; }
docker logs "$container" 2>&1 | grep -q 'config reload (SIGHUP): applied' ||
  fail "no 'config reload (SIGHUP): applied' in the logs"
log "SIGHUP reload: beta limit 24MiB -> 12MiB seen in Admin.GetStats"

# Stop: SIGTERM to PID 1, drain, exit 0.
docker stop -t 60 "$container" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$container")
docker logs "$container" 2>&1 | tail -5
[ "$code" = 0 ] || fail "container exited $code after docker stop, want 0"
log "docker stop: drained and exited 0"

# The image as shipped (no mounts): its config serves the demo model inside.
docker rm -f "$container" >/dev/null 2>&1 || true
docker run -d --name "$container" -p "127.0.0.1:$grpc_port:50051" \
  --memory 1g --cpus 2 "$image" >/dev/null
wait_healthy
[ "$health" = healthy ] || { docker logs "$container" 2>&1 | tail -30; fail "shipped config: not healthy ($health)"; }
story=$("$kvasir" client generate --addr "127.0.0.1:$grpc_port" --prompt "$prompt" \
  --max-tokens 64 --json)
/usr/bin/python3 - "$golden" "$story" <<'EOF' || fail "the shipped config does not serve stories260K"
import json, sys
g, o = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert o["token_ids"] == g["continuation_token_ids"], o["text"]
EOF
docker stop -t 60 "$container" >/dev/null
log "shipped config: the demo model tells the golden story"
log "PASS (image $((size / 1024 / 1024)) MiB, $(($(date +%s) - start)) s)"
