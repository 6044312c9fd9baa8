#!/bin/bash
# One device check: CUDA kernel/model tests, then CUDA benchmarks. Each step has its own timeout; logs go to $OUT.
D=$(pwd)/.device   # made by tools/DeviceCheck/prepare.sh
LOG=$OUT/steps.log
step() { local t=$1; shift; echo "=== [$(date +%T)] $* (timeout $t s)" | tee -a $LOG; timeout $t "$@" >> $LOG 2>&1; echo "=== rc=$?" | tee -a $LOG; }
mkdir -p /tmp/rt /tmp/libs
tar -C /tmp/rt -xJf $D/dotnet-rt.tar.xz
export DOTNET_ROOT=/tmp/rt PATH=/tmp/rt:$PATH DOTNET_CLI_TELEMETRY_OPTOUT=1 SPECCORE_MODELS=$D/models
# .NET probes libcuda.so / libOpenCL.so; drivers often ship only the .so.1 names.
for l in $(ldconfig -p | awk '/libcuda\.so\.1|libOpenCL\.so\.1/ {print $NF}'); do b=$(basename $l .1); ln -sf $l /tmp/libs/$b; done
ln -sf /tmp/libs/libOpenCL.so /tmp/libs/libopencl.so 2>/dev/null
export LD_LIBRARY_PATH=/tmp/libs:/usr/local/nvidia/lib64:$LD_LIBRARY_PATH
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv; nproc; ls -la /tmp/libs; } >> $LOG 2>&1
DC="dotnet $D/bin/DeviceCheck.dll"
step 20 $DC cli devices
SPECCORE_TEST_DEVICE=cuda timeout ${TEST_T:-150} $DC tests Ilgpu > $OUT/tests-cuda.log 2>&1; echo "=== cuda tests rc=$? $(tail -1 $OUT/tests-cuda.log)" | tee -a $LOG
grep -E "passed|failed:" $OUT/tests-cuda.log | tail -20 | tee -a $LOG
for cmd in ${STEPS:-tiny gen tinyllama spec}; do
  case $cmd in
    tiny) step 40 $DC cli bench --model $D/models/stories2M --device cuda --verify 1,2,4,8 ;;
    gen) step 40 $DC cli generate --model $D/models/stories2M --draft $D/models/stories260K --prompt "Once upon a time" --spec-k auto --compare --device cuda ;;
    tinyllama) step 80 $DC cli bench --synthetic TinyLlama-1.1B --device cuda --prompt-tokens 64 ;;
    llama32) step 80 $DC cli bench --synthetic Llama-3.2-1B --device cuda --prompt-tokens 64 ;;
    spec) step 80 $DC cli bench --synthetic stories110M --draft-synthetic stories15M --accept 0.8 --spec-k 1,2,4 --device cuda ;;
    opencl) SPECCORE_TEST_DEVICE=opencl timeout 90 $DC tests Ilgpu > $OUT/tests-opencl.log 2>&1; echo "=== opencl tests rc=$? $(tail -1 $OUT/tests-opencl.log)" | tee -a $LOG ;;
  esac
done
echo "=== done $(date +%T)" | tee -a $LOG
