#!/usr/bin/env bash
# Runs pfgm's GPU checks on the project's GPU machine (the "device": one GPU, nvcc, CMake, g++,
# Python + PyTorch with NVIDIA's cuDNN / cuBLAS wheels; no Node, no oneDNN, no network), from the
# repository root, with the kit that scripts/device-kit.mjs wrote here carried along
# (carry: [".carry/kit"]). docs/benchmarks-gpu.md, "On the project's GPU machine", has the calls.
#
#   bash scripts/device-check.sh build             unpack the kit, configure + build both addons
#   bash scripts/device-check.sh info              pfgm info -> $OUT/info.json; needs the GPU, cuDNN, cuBLAS
#   bash scripts/device-check.sh test [NAME...]    the GPU test files, in order (NAME: ops-parity, ...)
#   bash scripts/device-check.sh bench MODE [-- ARGS]   bench/gpu.mjs --modes MODE (fp32|tf32|bf16)
#   bash scripts/device-check.sh profile [-- ARGS]  bench/gpu-profile.mjs ARGS (per-op GPU time of a
#                                                  training step), then bench/torch_gpu_profile.py
#                                                  ARGS for PyTorch's kernels of the same step
#   bash scripts/device-check.sh distributed [-- ARGS]  bench/distributed.mjs --device cuda ARGS: one
#                                                  NCCL rank against the plain step, and the
#                                                  gradient all-reduce's time -> $OUT/distributed.json
#   bash scripts/device-check.sh sanitize          compute-sanitizer memcheck + racecheck over
#                                                  scripts/gpu-sanitize-ops.mjs (every kernel kind once)
#   bash scripts/device-check.sh all               build, info, test
#
# Every stage starts from whatever is there: it unpacks the kit when it is new, builds when no
# build exists (incrementally when one does), and uses carried prebuilt addons
# (build-device/Release/*.node with no CMake cache beside them) for info / test / bench.
# Results go to $OUT (default build-device/out): logs, vitest JSON reports, info.json, the
# benchmark's JSON, and summary.txt with one line per step. Exit status: 0 all passed, 1 a check
# failed or something is missing (the message says what), 2 a usage error.
#
# Environment: OUT; PFGM_JOBS (build jobs, default nproc); PFGM_CUDA_ARCH (default 90-real);
# CUDA_HOME (where nvcc is when it is not on PATH, default /usr/local/cuda);
# CUDNN_ROOT / CUBLAS_ROOT (passed on to CMake's search, cmake/PfgmNvidiaLibraries.cmake);
# PFGM_CHECK_BUDGET_S (seconds this call may take before test / bench steps are cut, default 570:
# the device stops a command at 600); PFGM_ALLOW_NO_GPU=1 (a machine without a GPU: warn instead
# of failing, for rehearsing the script elsewhere); PFGM_KIT (default .carry/kit);
# PFGM_DEVICE_BUILD (default build-device).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
KIT=${PFGM_KIT:-$ROOT/.carry/kit}
BUILD=${PFGM_DEVICE_BUILD:-$ROOT/build-device}
SYS=$BUILD/kit
NODE=$SYS/node/bin/node
OUT=${OUT:-$BUILD/out}
JOBS=${PFGM_JOBS:-$(nproc 2>/dev/null || echo 4)}
ARCH=${PFGM_CUDA_ARCH:-90-real}
BUDGET=${PFGM_CHECK_BUDGET_S:-570}
ALLOW_NO_GPU=${PFGM_ALLOW_NO_GPU:-0}
TEST_FILES=(ops-parity physics-parity conv-linear-parity attention-resample-parity attention-blas-parity network-parity inception-parity sample-resident-parity graph-cache graph-train)
BUILT=0
GPU_CHECKED=0

usage() {
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

usage_error() {
  echo "device-check: $1" >&2
  echo "usage: bash scripts/device-check.sh build | info | test [NAME...] | bench fp32|tf32|bf16 [-- ARGS] | profile [-- ARGS] | distributed [-- ARGS] | sanitize | all" >&2
  exit 2
}

# --- arguments first: a usage error needs no kit -------------------------------------------------
STAGE=${1:-}
[ $# -gt 0 ] && shift
case "$STAGE" in
  profile | distributed)
    [ "${1:-}" = "--" ] && shift
    ;;
  build | info | all | sanitize)
    [ $# -eq 0 ] || usage_error "'$STAGE' takes no arguments (got: $*)"
    ;;
  test)
    for name in "$@"; do
      [[ " ${TEST_FILES[*]} " == *" $name "* ]] || usage_error "no GPU test file '$name' (one of: ${TEST_FILES[*]})"
    done
    ;;
  bench)
    MODE=${1:-}
    [[ "$MODE" =~ ^(fp32|tf32|bf16)$ ]] || usage_error "bench needs a mode: fp32, tf32 or bf16 (got '${MODE}')"
    shift
    [ "${1:-}" = "--" ] && shift
    ;;
  help | -h | --help)
    usage
    exit 0
    ;;
  '') usage_error 'no stage given' ;;
  *) usage_error "unknown stage '$STAGE'" ;;
esac

mkdir -p "$OUT" || exit 1
SUMMARY=$OUT/summary.txt

log() {
  printf '[device-check +%ss] %s\n' "$SECONDS" "$*" | tee -a "$SUMMARY"
}

die() {
  printf '\n[device-check +%ss] FAILED: %s\n' "$SECONDS" "$*" | tee -a "$SUMMARY" >&2
  exit 1
}

# --- the kit ------------------------------------------------------------------------------------

# unpack ARCHIVE DEST: tar.xz through tar + xz, or through Python's tarfile where xz is missing.
untar() {
  if command -v xz >/dev/null 2>&1; then
    tar -xJf "$1" -C "$2"
  else
    python3 -c 'import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))' "$1" "$2"
  fi
}

unxz_to() {
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1" >"$2"
  else
    python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as i, open(sys.argv[2], "wb") as o: shutil.copyfileobj(i, o)' "$1" "$2"
  fi
}

# Every archive against the sha256 the manifest records (a truncated carry fails here, loudly).
verify_kit() {
  python3 - "$KIT" <<'EOF' || die "the kit in $KIT does not match its manifest (see above): rerun node scripts/device-kit.mjs where it was made"
import hashlib, json, os, sys
kit = sys.argv[1]
manifest = json.load(open(os.path.join(kit, "manifest.json")))
bad = []
for name, entry in manifest["files"].items():
    path = os.path.join(kit, name)
    if not os.path.exists(path):
        bad.append(f"{name}: missing")
        continue
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != entry["sha256"]:
        bad.append(f"{name}: sha256 differs")
for line in bad:
    print("device-check: kit file " + line, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# place NAME ARCHIVE: unpack node_modules/ or dist/ into the repository root, marked as the kit's
# (unpacked beside it first, so that a failed unpack leaves nothing half-made).
place() {
  local dir=$ROOT/$1 stamp=$ROOT/$1/.pfgm-kit tmp=$BUILD/unpack-$1
  if [ -e "$dir" ] || [ -L "$dir" ]; then
    if [ -f "$stamp" ] && [ ! -L "$dir" ]; then
      [ "$(cat "$stamp")" = "$KIT_SUM" ] && return 0
      rm -rf "$dir"
    else
      die "$1/ exists in $ROOT and is not the kit's (no $1/.pfgm-kit): move it away (the device needs the kit's copy; do not carry $1)"
    fi
  fi
  rm -rf "$tmp" && mkdir -p "$tmp" || die "cannot create $tmp"
  untar "$KIT/$2" "$tmp" || die "could not unpack $KIT/$2"
  echo "$KIT_SUM" >"$tmp/$1/.pfgm-kit" && mv "$tmp/$1" "$dir" && rmdir "$tmp" || die "could not move $1/ into place"
}

setup() {
  command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH ($PATH)"
  [ -f "$KIT/manifest.json" ] || die "no kit at $KIT: run 'node scripts/device-kit.mjs' on the development machine and carry .carry/kit (carry: [\".carry/kit\"])"
  KIT_SUM=$(sha256sum "$KIT/manifest.json" | cut -c1-64)
  verify_kit
  if [ "$(cat "$SYS/.kit-sha256" 2>/dev/null)" != "$KIT_SUM" ]; then
    log "unpacking the kit into $SYS"
    rm -rf "$SYS" && mkdir -p "$SYS/node/bin" || die "cannot create $SYS"
    unxz_to "$KIT/node.xz" "$NODE" && chmod +x "$NODE" || die "could not unpack $KIT/node.xz"
    untar "$KIT/native-headers.tar.xz" "$SYS" || die "could not unpack native-headers.tar.xz"
    untar "$KIT/native-libs.tar.xz" "$SYS" || die "could not unpack native-libs.tar.xz"
    echo "$KIT_SUM" >"$SYS/.kit-sha256"
  fi
  place node_modules node_modules.tar.xz
  place dist dist.tar.xz

  LIBDIR=$(dirname "$(ls "$SYS"/usr/lib/*/libdnnl.so.2 2>/dev/null | head -1)")
  [ -f "$LIBDIR/libdnnl.so.2" ] || die "the kit has no libdnnl.so.2 under $SYS/usr/lib/"
  local path=$LIBDIR name
  # A library libdnnl needs that this image lacks (libgomp in a bare image): the kit's copy, last
  # resort only, since a compiler's own libgomp must win where there is one.
  for lib in "$SYS"/fallback/*.so.[0-9]; do
    [ -e "$lib" ] || continue
    name=$(basename "$lib")
    if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q "[[:space:]]$name[[:space:]]" &&
      [[ "$(gcc -print-file-name="$name" 2>/dev/null)" != /* ]]; then
      path=$path:$SYS/fallback
      log "this image has no $name: using the kit's"
      break
    fi
  done
  export LD_LIBRARY_PATH=$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  # The shipped addons (info, bench); the tests and the sanitizer run take the test build in
  # $BUILD/Release/testing (op cases, runOp), which the build stage makes beside them.
  export PFGM_ADDON_DIR=$BUILD/Release
  export NO_COLOR=1 FORCE_COLOR=0 PYTHONUNBUFFERED=1

  local v
  v=$("$NODE" --version 2>&1) || {
    ldd "$NODE" 2>&1 | tee -a "$SUMMARY"
    die "the kit's node does not run here ($v); ldd above (it needs GLIBC >= $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["needs"]["node"].get("GLIBC","?"))' "$KIT/manifest.json"))"
  }
  local missing
  missing=$(ldd "$LIBDIR/libdnnl.so.2" 2>&1 | grep -i "not found")
  [ -z "$missing" ] || die "libdnnl.so.2 cannot load here: $missing"
  log "kit: node $v, libdnnl in $LIBDIR, node_modules/ and dist/ from the kit"
}

# --- build --------------------------------------------------------------------------------------

# The folders CMake searches for NVIDIA's wheels: nvidia.__path__ of the python3 on PATH (empty
# when it cannot import nvidia).
nvidia_paths() {
  python3 -c 'import nvidia; print(" ".join(nvidia.__path__))' 2>/dev/null
}

build() {
  [ "$BUILT" = 1 ] && return 0
  command -v cmake >/dev/null 2>&1 || die "cmake is not on PATH ($PATH)"
  command -v g++ >/dev/null 2>&1 || die "g++ is not on PATH ($PATH)"
  local nvcc
  nvcc=$(command -v nvcc || true)
  local cuda_home=${CUDA_HOME:-/usr/local/cuda}
  [ -z "$nvcc" ] && [ -x "$cuda_home/bin/nvcc" ] && nvcc=$cuda_home/bin/nvcc
  [ -n "$nvcc" ] || die "nvcc not found (not on PATH=$PATH, not at $cuda_home/bin/nvcc; set CUDA_HOME): the CUDA addon cannot be built"
  log "nvcc: $nvcc ($("$nvcc" --version | grep -o 'release [0-9.]*' | head -1)); CUDA arch $ARCH; $JOBS jobs"
  local nv
  nv=$(nvidia_paths)
  log "python3: $(command -v python3); nvidia.__path__: ${nv:-(none: it cannot import nvidia)}"
  [ -n "${CUDNN_ROOT:-}${CUBLAS_ROOT:-}" ] && log "CUDNN_ROOT=${CUDNN_ROOT:-} CUBLAS_ROOT=${CUBLAS_ROOT:-}"

  local generator=()
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); else generator=(-G 'Unix Makefiles'); fi
  fi
  local man=$KIT/manifest.json
  local -a js
  # The -D values cmake-js would pass (node_modules/cmake-js/lib/cMake.js), recorded by the kit.
  mapfile -t js < <(python3 -c 'import json,sys
for k, v in json.load(open(sys.argv[1]))["cmake"].items(): print(f"-D{k}={v}")' "$man")
  local cuda_compiler=()
  [ "$nvcc" != "$(command -v nvcc || true)" ] && cuda_compiler=(-DCMAKE_CUDA_COMPILER="$nvcc")
  log "configuring $BUILD"
  cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" --no-warn-unused-cli \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$BUILD/Release" \
    -DCMAKE_JS_INC="$SYS/node/include/node" -DCMAKE_JS_SRC= -DCMAKE_JS_LIB= "${js[@]}" \
    -Ddnnl_DIR="$LIBDIR/cmake/dnnl" -DOPENCLROOT="$SYS/usr" \
    -DPFGM_CUDA=ON -DPFGM_CUDA_ARCH="$ARCH" "${cuda_compiler[@]}" >"$OUT/configure.log" 2>&1 || {
    tail -40 "$OUT/configure.log"
    die "CMake's configure step failed (the end of $OUT/configure.log is above)"
  }
  grep -E -- '-- (pfgm:|Found OpenCL)' "$OUT/configure.log" | sed 's/^-- /  /' | tee -a "$SUMMARY"
  grep -q 'pfgm: CUDA backend ON' "$OUT/configure.log" ||
    die "CMake did not enable the CUDA backend (see $OUT/configure.log): nvcc $nvcc not usable?"
  local lib var p
  for lib in CUDNN CUBLAS; do
    grep -q "pfgm: $lib found" "$OUT/configure.log" && continue
    var=${lib}_ROOT
    {
      echo "python3 = $(command -v python3); its nvidia.__path__ = ${nv:-(none: it cannot import nvidia)}"
      for p in $nv; do ls -d "$p"/cudnn/lib "$p"/cu13/lib "$p"/cublas/lib 2>&1; done
    } | tee -a "$SUMMARY"
    die "$lib not found: the build looked in $var (${!var:-unset}), the CUDA toolkit, and {cudnn,cu13,cublas}/{include,lib} under each nvidia.__path__ entry of that python3 (above). Install PyTorch's CUDA wheels for it (pip install torch), or set $var"
  done

  local t0=$SECONDS
  log "building (cmake --build -j $JOBS; log: $OUT/build.log)"
  if ! cmake --build "$BUILD" -j "$JOBS" >"$OUT/build.log" 2>&1; then
    grep -E -B2 -A6 'error|Error' "$OUT/build.log" | head -80
    die "the build failed (errors above; whole log: $OUT/build.log)"
  fi
  tail -3 "$OUT/build.log"
  log "built in $((SECONDS - t0)) s"
  local addon
  for addon in pfgm_cpu pfgm_cuda testing/pfgm_cpu testing/pfgm_cuda; do
    [ -f "$BUILD/Release/$addon.node" ] || die "$BUILD/Release/$addon.node was not built"
    missing=$(ldd "$BUILD/Release/$addon.node" 2>&1 | grep -i "not found")
    [ -z "$missing" ] || die "$addon.node cannot load its libraries: $missing"
  done
  readelf -d "$BUILD/Release/pfgm_cuda.node" | grep -E 'NEEDED.*(dnnl|cudnn|cublas)|RUNPATH' | sed 's/^ */  /' | tee -a "$SUMMARY"
  mkdir -p "$OUT/addon" && cp "$BUILD/Release/pfgm_cpu.node" "$BUILD/Release/pfgm_cuda.node" "$OUT/addon/"
  BUILT=1
}

# The build when a CMake cache exists (incremental: quick when nothing changed), carried prebuilt
# addons when only they exist, else a whole build.
ensure_built() {
  [ "$BUILT" = 1 ] && return 0
  if [ -f "$BUILD/CMakeCache.txt" ]; then
    build
  elif [ -f "$BUILD/Release/pfgm_cpu.node" ] && [ -f "$BUILD/Release/pfgm_cuda.node" ]; then
    log "using the carried prebuilt addons in $BUILD/Release (no CMake cache here; run the build stage to rebuild them from these sources)"
    BUILT=1
  else
    build
  fi
}

# --- info / GPU check ---------------------------------------------------------------------------

gpu_check() { # [quiet]
  [ "$GPU_CHECKED" = 1 ] && return 0
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
  else
    echo "nvidia-smi is not on PATH ($PATH)" >"$OUT/nvidia-smi.txt"
  fi
  "$NODE" bin/pfgm.js info --json >"$OUT/info.json" 2>"$OUT/info.err" ||
    die "pfgm info failed: $(cat "$OUT/info.err")"
  [ "${1:-}" = quiet ] || "$NODE" bin/pfgm.js info | tee "$OUT/info.txt"
  local verdict rc
  verdict=$("$NODE" -e '
    const { cuda } = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    if (!cuda.compiled) { console.log(`the CUDA addon did not load: ${cuda.reason}`); process.exit(5); }
    const lacking = [!cuda.cudnn && "cuDNN", !cuda.cublas && "cuBLAS"].filter(Boolean);
    if (lacking.length) { console.log(`the CUDA addon was built without ${lacking.join(" and ")} (cuda.cudnn / cuda.cublas false): rebuild with the build stage and read its "pfgm:" lines`); process.exit(4); }
    if (!cuda.available) { console.log(`no usable GPU: ${cuda.reason}`); process.exit(3); }
    console.log(`GPU ${cuda.name} (compute ${cuda.computeCapability}, driver ${cuda.driverVersion}, runtime ${cuda.runtimeVersion}); cuDNN and cuBLAS linked`);
  ' "$OUT/info.json")
  rc=$?
  case $rc in
    0) log "$verdict" ;;
    3)
      cat "$OUT/nvidia-smi.txt" | tee -a "$SUMMARY"
      if [ "$ALLOW_NO_GPU" = 1 ]; then
        log "WARNING (PFGM_ALLOW_NO_GPU=1): $verdict; the GPU tests will skip"
      else
        die "$verdict (nvidia-smi's output is above)"
      fi
      ;;
    *) die "$verdict" ;;
  esac
  GPU_CHECKED=1
}

# --- test ---------------------------------------------------------------------------------------

# One line per file from vitest's JSON report, plus the failing tests' first message lines.
report_line() { # name rc seconds
  "$NODE" -e '
    const [file, name, rc, secs] = process.argv.slice(1);
    let r;
    try { r = JSON.parse(require("node:fs").readFileSync(file, "utf8")); } catch {
      console.log(`${name}: no report (exit ${rc}${rc === "124" || rc === "137" ? ", out of time" : ""}, ${secs} s)`);
      process.exit(0);
    }
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`${name}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped (${secs} s)` +
      (r.success && rc === "0" ? "" : ` FAILED (exit ${rc})`));
    for (const f of r.testResults)
      for (const t of f.assertionResults)
        if (t.status === "failed")
          console.log(`  x ${t.fullName}: ${(t.failureMessages[0] ?? "").split("\n").slice(0, 3).join(" | ").slice(0, 400)}`);
    if (r.testResults.some((f) => f.status === "failed" && f.assertionResults.length === 0))
      console.log(`  x the file failed to load: ${r.testResults.map((f) => f.message).join(" ").slice(0, 400)}`);
  ' "$OUT/test-$1.json" "$1" "$2" "$3"
}

run_tests() {
  local names=("$@") failed=0 name left t0 rc
  [ ${#names[@]} -gt 0 ] || names=("${TEST_FILES[@]}")
  for name in "${names[@]}"; do
    left=$((BUDGET - SECONDS - 15))
    if [ "$left" -lt 30 ]; then
      log "$name: not run (the call's budget of $BUDGET s is spent; run: test $name)"
      failed=1
      continue
    fi
    t0=$SECONDS
    PFGM_ADDON_DIR=$BUILD/Release/testing timeout -k 10 "$left" "$NODE" node_modules/vitest/vitest.mjs run "test/gpu/$name.test.ts" \
      --reporter=verbose --reporter=json --outputFile.json="$OUT/test-$name.json" >"$OUT/test-$name.log" 2>&1
    rc=$?
    report_line "$name" "$rc" "$((SECONDS - t0))" | tee -a "$SUMMARY"
    [ "$rc" = 0 ] || {
      failed=1
      tail -25 "$OUT/test-$name.log"
    }
  done
  return $failed
}

# --- bench --------------------------------------------------------------------------------------

run_bench() {
  local left=$((BUDGET - SECONDS - 10)) rc
  [ "$left" -gt 30 ] || die "no time left in this call for the benchmark"
  log "bench/gpu.mjs --modes $MODE --out $OUT/gpu-$MODE.json $* (limit ${left} s; log $OUT/gpu-$MODE.log)"
  timeout -k 10 "$left" "$NODE" bench/gpu.mjs --modes "$MODE" --out "$OUT/gpu-$MODE.json" "$@" 2>&1 | tee "$OUT/gpu-$MODE.log"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || die "the benchmark stopped with exit $rc$([ "$rc" = 124 ] && echo ' (out of time: split it, e.g. one --networks per call, or --no-compile)')"
  log "benchmark written: $OUT/gpu-$MODE.json"
}

# --- profile ------------------------------------------------------------------------------------

# Per-op GPU time of pfgm's step and PyTorch's kernels of the same step (same ARGS: --network,
# --precision, --batch, --steps, --warmup, --D, --top), one JSON line each, appended to
# $OUT/profile.jsonl. PFGM_PROFILE_TORCH=0 leaves PyTorch's side out.
run_profile() {
  local left=$((BUDGET - SECONDS - 10)) rc tag
  [ "$left" -gt 30 ] || die "no time left in this call for the profile"
  tag=$(echo "$*" | tr -c 'A-Za-z0-9.=-' '_')
  log "profile $* (limit ${left} s; appended to $OUT/profile.jsonl)"
  timeout -k 10 "$left" "$NODE" bench/gpu-profile.mjs "$@" >"$OUT/profile-pfgm-$tag.json" 2>"$OUT/profile-pfgm-$tag.err"
  rc=$?
  [ "$rc" = 0 ] || { cat "$OUT/profile-pfgm-$tag.err"; die "bench/gpu-profile.mjs stopped with exit $rc"; }
  tail -1 "$OUT/profile-pfgm-$tag.json" | tee -a "$OUT/profile.jsonl"
  [ "${PFGM_PROFILE_TORCH:-1}" = 0 ] && return 0  # PFGM_PROFILE_TORCH=0: pfgm's side only
  left=$((BUDGET - SECONDS - 10))
  [ "$left" -gt 30 ] || { log "torch profile: not run (no time left)"; return 0; }
  timeout -k 10 "$left" python3 bench/torch_gpu_profile.py "$@" >"$OUT/profile-torch-$tag.json" 2>"$OUT/profile-torch-$tag.err"
  rc=$?
  [ "$rc" = 0 ] || { tail -20 "$OUT/profile-torch-$tag.err"; die "bench/torch_gpu_profile.py stopped with exit $rc"; }
  tail -1 "$OUT/profile-torch-$tag.json" | tee -a "$OUT/profile.jsonl"
}

# --- distributed --------------------------------------------------------------------------------

# NCCL on this GPU (docs/distributed.md, "GPUs"): the step with one NCCL rank against the plain
# step, and the time of the bucketed gradient all-reduce.
run_distributed() {
  local left=$((BUDGET - SECONDS - 10)) rc
  [ "$left" -gt 30 ] || die "no time left in this call for the distributed benchmark"
  log "bench/distributed.mjs --device cuda $* (limit ${left} s; $OUT/distributed.json)"
  timeout -k 10 "$left" "$NODE" bench/distributed.mjs --device cuda "$@" >"$OUT/distributed.json" 2>"$OUT/distributed.err"
  rc=$?
  cat "$OUT/distributed.json"
  [ "$rc" = 0 ] || { tail -20 "$OUT/distributed.err"; die "bench/distributed.mjs stopped with exit $rc"; }
}

# --- sanitize -----------------------------------------------------------------------------------

# Out-of-bounds accesses, misaligned or uninitialised reads (memcheck) and shared-memory races
# (racecheck) in every kind of kernel: the first diagnosis after an illegal-address fault, and a
# check that the parity tests (which compare values) cannot make.
run_sanitize() {
  local san=${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer tool left rc failed=0
  command -v compute-sanitizer >/dev/null 2>&1 && san=$(command -v compute-sanitizer)
  [ -x "$san" ] || die "compute-sanitizer not found (not on PATH, not at $san; set CUDA_HOME)"
  for tool in memcheck racecheck; do
    left=$((BUDGET - SECONDS - 10))
    [ "$left" -gt 30 ] || { log "sanitize $tool: not run (no time left in this call)"; failed=1; continue; }
    # Exact allocations: with the cache, an overrun inside a size class is not out of bounds.
    PFGM_ADDON_DIR=$BUILD/Release/testing PFGM_CUDA_NO_CACHING=1 timeout -k 10 "$left" "$san" --tool "$tool" --error-exitcode 3 "$NODE" scripts/gpu-sanitize-ops.mjs \
      >"$OUT/sanitize-$tool.log" 2>&1
    rc=$?
    echo "sanitize $tool: exit $rc$([ "$rc" = 0 ] && echo ' (clean)' || echo ' FAILED')" | tee -a "$SUMMARY"
    [ "$rc" = 0 ] || { failed=1; tail -30 "$OUT/sanitize-$tool.log"; }
  done
  return $failed
}

# --- stages -------------------------------------------------------------------------------------

log "stage $STAGE in $ROOT, results in $OUT"
setup
case "$STAGE" in
  build) build ;;
  info) ensure_built && gpu_check ;;
  test) ensure_built && gpu_check quiet && run_tests "$@" || die "some GPU test files failed or did not run (lines above; logs in $OUT)" ;;
  bench) ensure_built && gpu_check quiet && run_bench "$@" ;;
  profile) ensure_built && gpu_check quiet && run_profile "$@" ;;
  distributed) ensure_built && gpu_check quiet && run_distributed "$@" ;;
  sanitize) ensure_built && gpu_check quiet && run_sanitize || die "compute-sanitizer found errors (logs in $OUT)" ;;
  all) build && gpu_check && run_tests || die "some GPU test files failed or did not run (lines above; logs in $OUT)" ;;
esac
log "stage $STAGE done"
