#!/usr/bin/env bash
# Stages what the worker's MP4 output (worker/media) needs into <repo>/.airgap/debs for an
# air-gapped GPU host that has no FFmpeg or libpng development files (see ../shared/airgap/stage).
# Debian's FFmpeg 5.1 runtime pulls ~130 libraries (60 MB of packages) that such a host cannot
# receive, so this builds FFmpeg 5.1 (Debian's source) as static libraries with only what the
# worker uses (libx264 and AAC encoders, the mp4 muxer, swresample, the file protocol) and packs
# them as one .deb that .airgap/env.sh unpacks into /opt/deps like the others; libx264 and libpng
# come as Debian's packages. Run on a Debian 12 machine that reaches Debian's registry, from the
# repo root:  bench/gpu/stage_ffmpeg.sh      (about 5 minutes on 2 cores; FF_STAGE_WORK=DIR keeps
# the build between runs). A GPU node with a package registry needs none of this: ops/install-deps.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
work=${FF_STAGE_WORK:-/tmp/ff-ffmpeg-stage}
debs=$root/.airgap/debs
mkdir -p "$work" "$debs"
cd "$work"
if ! ls ffmpeg_5.1.*.orig.tar.xz >/dev/null 2>&1; then
  mkdir -p lists/partial
  printf 'deb-src http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian-security bookworm-security main\n' >src.list
  o="-o Dir::Etc::SourceList=$work/src.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists"
  apt-get $o update -q
  apt-get $o source --download-only ffmpeg
fi
apt-get download libx264-164 libx264-dev libpng16-16 libpng-dev 2>&1 | grep -v unsandboxed || true
src=$(ls -d ffmpeg-5.1.* 2>/dev/null | head -1 || true)
if [ -z "$src" ]; then tar xf ffmpeg_5.1.*.orig.tar.xz; src=$(ls -d ffmpeg-5.1.* | head -1); fi
if [ ! -f root/usr/lib/x86_64-linux-gnu/libavcodec.a ]; then
  rm -rf x264 && mkdir x264
  for d in libx264-dev_*.deb libx264-164_*.deb; do dpkg -x "$d" x264; done
  (cd "$src" &&
   PKG_CONFIG_PATH=$work/x264/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$work/x264 \
   ./configure --prefix=/usr --libdir=/usr/lib/x86_64-linux-gnu --incdir=/usr/include \
     --enable-static --disable-shared --enable-pic --enable-gpl --enable-libx264 \
     --disable-everything --disable-programs --disable-doc --disable-network --disable-autodetect \
     --disable-avdevice --disable-avfilter --disable-swscale --disable-postproc --disable-x86asm \
     --enable-swresample --enable-encoder=libx264,aac --enable-muxer=mp4 --enable-protocol=file \
     --enable-bsf=aac_adtstoasc --disable-debug >"$work/configure.log" &&
   make -j"$(nproc)" >"$work/make.log" && make install DESTDIR="$work/root" >"$work/install.log")
fi
# The .pc files name the x264 build path (the libraries sit in the same libdir once unpacked) and
# -latomic, which no object of this build needs (and a GPU host's compiler may lack).
sed -i -e "s|-L$work/x264/usr/lib/x86_64-linux-gnu||g" -e 's| -latomic||g' root/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc
pkg=$work/pkg
rm -rf "$pkg" && mkdir -p "$pkg/DEBIAN"
cp -a root/usr "$pkg/"
ver=$(basename "$src" | sed 's/^ffmpeg-//')
cat >"$pkg/DEBIAN/control" <<CTRL
Package: framefarm-gpuhost-ffmpeg
Version: $ver-1
Architecture: amd64
Maintainer: framefarm
Description: FFmpeg $ver static libraries for framefarm's MP4 output on an air-gapped GPU host
 libx264 + AAC encoders, mp4 muxer, swresample, file protocol (built by bench/gpu/stage_ffmpeg.sh).
CTRL
dpkg-deb --root-owner-group --build "$pkg" "$debs/framefarm-gpuhost-ffmpeg_${ver}-1_amd64.deb" >/dev/null
cp libx264-164_*.deb libx264-dev_*.deb libpng16-16_*.deb libpng-dev_*.deb "$debs/"
ls -la "$debs" | grep -E 'ffmpeg|x264|png'
du -sh "$root/.airgap"
