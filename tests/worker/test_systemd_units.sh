#!/usr/bin/env bash
# Verifies ops/systemd/*.service with `systemd-analyze verify`: exit status 0 AND nothing on
# stderr (unknown keys are only warnings there). ExecStart points at the built binaries, since
# verify fails when the binary does not exist. Also checks the stop/restart policy keys, and that
# the check itself catches a misspelt key.
# usage: test_systemd_units.sh SOURCE_DIR DISPATCHER_BIN WORKER_BIN
set -u
src=$1 dispatcher=$2 worker=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
verify() {  # verify FILE -> prints problems, returns 1 on any
  local err rc
  err=$(cd "$tmp" && systemd-analyze verify "$1" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 0 ] || [ -n "$err" ]; then echo "verify $(basename "$1"): exit $rc"; echo "$err"; return 1; fi
  return 0
}
sed "s|/usr/bin/framefarm-dispatcher|$dispatcher|" "$src/ops/systemd/framefarm-dispatcher.service" \
  > "$tmp/framefarm-dispatcher.service"
sed "s|/usr/bin/framefarm-worker|$worker|" "$src/ops/systemd/framefarm-worker@.service" \
  > "$tmp/framefarm-worker@.service"
cp "$tmp/framefarm-worker@.service" "$tmp/framefarm-worker@0.service"
for u in framefarm-dispatcher.service framefarm-worker@.service framefarm-worker@0.service; do
  verify "$tmp/$u" || fail=1
done
for u in framefarm-dispatcher.service framefarm-worker@.service; do
  for key in 'Restart=on-failure' 'KillSignal=SIGTERM' 'TimeoutStopSec='; do
    grep -q "^$key" "$src/ops/systemd/$u" || { echo "$u: missing $key"; fail=1; }
  done
done
for key in 'Type=notify' 'WatchdogSec=' 'RestartPreventExitStatus=3' 'LimitNOFILE='; do
  grep -q "^$key" "$src/ops/systemd/framefarm-worker@.service" || { echo "framefarm-worker@.service: missing $key"; fail=1; }
done
grep -q '^PrivateDevices=yes' "$src/ops/systemd/framefarm-worker@.service" &&
  { echo "framefarm-worker@.service: PrivateDevices hides /dev/nvidia*"; fail=1; }
grep -q 'CUDA_VISIBLE_DEVICES=%i' "$src/ops/systemd/framefarm-worker@.service" ||
  { echo "framefarm-worker@.service: the instance must pin its GPU (%i)"; fail=1; }
# The check must be able to fail: a misspelt key is reported on stderr.
sed 's|^Restart=on-failure|Restartt=on-failure|' "$tmp/framefarm-dispatcher.service" > "$tmp/bad.service"
if verify "$tmp/bad.service" >/dev/null; then echo "verify did not catch a misspelt key"; fail=1; fi
[ $fail -eq 0 ] && echo "systemd units: ok"
exit $fail
