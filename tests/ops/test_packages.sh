#!/usr/bin/env bash
# e2e (root, Debian): builds the Debian packages of BUILD_DIR with cpack, installs them with apt,
# runs the installed binaries (--help, check-config on the shipped example, make-model + check-model
# on the tiny model), verifies the installed units with systemd-analyze, reinstalls over an edited
# config (which must survive), and purges them: no file of theirs may remain, /etc/framefarm
# included. Not root, or framefarm packages already installed: skipped (exit 77), since the test
# installs into / and purges what it installed.
# usage: test_packages.sh BUILD_DIR
set -uo pipefail
build=$1
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: installs packages; needs root"; exit 77; fi
for p in framefarm-dispatcher framefarm-worker; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    echo "SKIP: $p is installed on this machine; the test would purge it"; exit 77
  fi
done
tmp=$(mktemp -d); fail=0
cleanup() { dpkg --purge framefarm-dispatcher framefarm-worker >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT
bad() { echo "FAIL: $*"; fail=1; }

# ---- plain `cmake --install` (staged with DESTDIR): units rewritten to the prefix, example
# configs copied into /etc/framefarm once and never over an edited one
dest=$tmp/dest
if DESTDIR=$dest cmake --install "$build" --prefix /opt/ff >"$tmp/cmake-install.log" 2>&1; then
  grep -q '^ExecStart=/opt/ff/bin/framefarm-worker serve' "$dest/opt/ff/lib/systemd/system/framefarm-worker@.service" ||
    bad "cmake --install: the worker unit does not point at /opt/ff/bin"
  grep -q '^Documentation=file:///opt/ff/share/doc/framefarm-dispatcher/README.md' \
    "$dest/opt/ff/lib/systemd/system/framefarm-dispatcher.service" || bad "cmake --install: dispatcher unit Documentation path"
  [ -x "$dest/opt/ff/bin/framefarm-dispatcher" ] || bad "cmake --install: no bin/framefarm-dispatcher"
  [ -f "$dest/opt/ff/share/framefarm/schema/001_jobs.sql" ] || bad "cmake --install: no schema"
  cmp -s "$dest/etc/framefarm/worker.json" "$(dirname "$0")/../../ops/config/worker.json" ||
    bad "cmake --install: /etc/framefarm/worker.json is not the example"
  echo '{}' >"$dest/etc/framefarm/worker.json"
  DESTDIR=$dest cmake --install "$build" --prefix /opt/ff >>"$tmp/cmake-install.log" 2>&1
  [ "$(cat "$dest/etc/framefarm/worker.json")" = '{}' ] || bad "cmake --install replaced an edited /etc/framefarm/worker.json"
else
  tail -20 "$tmp/cmake-install.log"; bad "cmake --install"
fi

# ---- build the packages
if ! (cd "$build" && cpack -G DEB -B "$tmp/pkgs" >"$tmp/cpack.log" 2>&1); then
  tail -30 "$tmp/cpack.log"; echo "FAIL: cpack"; exit 1
fi
disp_deb=$(ls "$tmp"/pkgs/framefarm-dispatcher_*.deb 2>/dev/null | head -1)
work_deb=$(ls "$tmp"/pkgs/framefarm-worker_*.deb 2>/dev/null | head -1)
[ -n "$disp_deb" ] && [ -n "$work_deb" ] || { ls -la "$tmp/pkgs"; echo "FAIL: packages not built"; exit 1; }
dpkg-deb -c "$disp_deb" | awk '{print $NF}' >"$tmp/disp.list"
dpkg-deb -c "$work_deb" | awk '{print $NF}' >"$tmp/work.list"
engine=0; grep -q '^FRAMEFARM_ENGINE:BOOL=ON' "$build/CMakeCache.txt" && engine=1
for f in ./usr/bin/framefarm-dispatcher ./usr/lib/systemd/system/framefarm-dispatcher.service \
         ./usr/share/framefarm/schema/001_jobs.sql ./usr/share/framefarm/examples/dispatcher.env; do
  grep -qx -- "$f" "$tmp/disp.list" || bad "$(basename "$disp_deb") lacks $f"
done
want=(./usr/bin/framefarm-worker ./usr/lib/systemd/system/framefarm-worker@.service ./usr/share/framefarm/examples/worker.json)
[ $engine -eq 1 ] && want+=(./usr/bin/framefarm-engine)
for f in "${want[@]}"; do grep -qx -- "$f" "$tmp/work.list" || bad "$(basename "$work_deb") lacks $f"; done
for d in "$disp_deb" "$work_deb"; do
  grep -q '^\./etc/' "$tmp/disp.list" "$tmp/work.list" && bad "a package ships files under /etc (the postinst copies them)"
  for s in postinst prerm postrm; do dpkg-deb -I "$d" "$s" >/dev/null 2>&1 || bad "$(basename "$d") has no $s"; done
  dpkg-deb -f "$d" Depends | grep -q 'libc6' || bad "$(basename "$d"): no shlibdeps Depends"
done

# ---- install
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "$disp_deb" "$work_deb" >"$tmp/install.log" 2>&1; then
  tail -20 "$tmp/install.log"; echo "FAIL: apt-get install"; exit 1
fi
getent passwd framefarm >/dev/null || bad "no framefarm user after install"
for f in dispatcher.env worker.json; do
  [ -f /etc/framefarm/$f ] || { bad "/etc/framefarm/$f not created"; continue; }
  [ "$(stat -c '%a %U %G' /etc/framefarm/$f)" = "640 root framefarm" ] || bad "/etc/framefarm/$f: $(stat -c '%a %U %G' /etc/framefarm/$f)"
done
/usr/bin/framefarm-dispatcher --help >/dev/null || bad "framefarm-dispatcher --help"
/usr/bin/framefarm-worker --help >/dev/null || bad "framefarm-worker --help"
for g in 0 1; do
  /usr/bin/framefarm-worker check-config --config /etc/framefarm/worker.json --gpu $g >/dev/null ||
    bad "the shipped example worker config does not decode for GPU $g"
done
if [ $engine -eq 1 ]; then
  # The installed worker finds the installed engine next to it.
  if /usr/bin/framefarm-worker make-model --preset tiny --seed 0 "$tmp/model" >"$tmp/make.log" 2>&1; then
    printf '{"dispatcher_endpoint": "tcp://127.0.0.1:1", "worker_id": "t", "model_files": %s}\n' \
      "$(cat "$tmp/model/model.json")" >"$tmp/worker.json"
    /usr/bin/framefarm-worker check-model --config "$tmp/worker.json" >"$tmp/check.log" 2>&1 ||
      { tail -5 "$tmp/check.log"; bad "installed check-model on the tiny model"; }
  else
    tail -5 "$tmp/make.log"; bad "installed make-model --preset tiny"
  fi
fi

# ---- units: verified where they are installed, pointing at the installed binaries
units=/usr/lib/systemd/system
grep -q '^ExecStart=/usr/bin/framefarm-dispatcher ' $units/framefarm-dispatcher.service || bad "dispatcher unit ExecStart"
grep -q '^ExecStart=/usr/bin/framefarm-worker serve --config /etc/framefarm/worker.json --gpu %i$' \
  "$units/framefarm-worker@.service" || bad "worker unit ExecStart"
cp "$units/framefarm-worker@.service" "$tmp/framefarm-worker@0.service"
for u in $units/framefarm-dispatcher.service "$units/framefarm-worker@.service" "$tmp/framefarm-worker@0.service"; do
  err=$(cd "$tmp" && systemd-analyze verify "$u" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 0 ] && [ -z "$err" ] || bad "systemd-analyze verify $u: exit $rc: $err"
done

# ---- reinstall keeps an edited config
echo '# edited by the operator' >>/etc/framefarm/dispatcher.env
apt-get install -y -q --reinstall "$disp_deb" >"$tmp/reinstall.log" 2>&1 || bad "reinstall"
grep -q 'edited by the operator' /etc/framefarm/dispatcher.env || bad "reinstall replaced /etc/framefarm/dispatcher.env"

# ---- purge leaves nothing
files=$(dpkg -L framefarm-dispatcher framefarm-worker | sort -u)
apt-get purge -y -q framefarm-dispatcher framefarm-worker >"$tmp/purge.log" 2>&1 || { tail -10 "$tmp/purge.log"; bad "apt-get purge"; }
for p in framefarm-dispatcher framefarm-worker; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed' && bad "$p still installed"
done
left=$(for f in $files; do [ -f "$f" ] || [ -L "$f" ] && echo "$f"; done)
[ -z "$left" ] || bad "files left after purge: $left"
[ -e /etc/framefarm ] && bad "/etc/framefarm left after purge: $(ls -A /etc/framefarm)"
[ $fail -eq 0 ] && echo "packages: built, installed, ran, verified, purged: ok"
exit $fail
