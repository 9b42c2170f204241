#!/usr/bin/env bash
# Fetches what a Raspberry Pi 4 SD card needs besides hmk into the directory given as $1:
# start4.elf and fixup4.dat from Debian's raspi-firmware package (component non-free-firmware)
# and bcm2711-rpi-4-b.dtb from Debian's arm64 kernel package. Packages are downloaded with a
# private apt view (its own sources, lists and cache under $1/apt) and unpacked, never
# installed; the apt source is derived from this machine's own Debian entry.
set -euo pipefail

out=${1:?usage: fetch-rpi4-firmware.sh DIR}
mkdir -p "$out"
if [ -f "$out/start4.elf" ] && [ -f "$out/fixup4.dat" ] && [ -f "$out/bcm2711-rpi-4-b.dtb" ]; then
  exit 0
fi
for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "hmk: $tool is missing: fetch start4.elf, fixup4.dat and bcm2711-rpi-4-b.dtb by hand and pass --firmware DIR" >&2; exit 1; }
done
base=/etc/apt/sources.list.d/debian.sources
uri=$(awk '/^URIs:/ {print $2; exit}' "$base" 2>/dev/null || true)
key=$(awk '/^Signed-By:/ {print $2; exit}' "$base" 2>/dev/null || true)
if [ -z "$uri" ]; then
  echo "hmk: no Debian apt source on this machine: get start4.elf and fixup4.dat (Debian raspi-firmware) and bcm2711-rpi-4-b.dtb (Debian linux-image-*-arm64) by hand and pass --firmware DIR" >&2
  exit 1
fi
view="$out/apt"
mkdir -p "$view/etc/sources.list.d" "$view/etc/preferences.d" "$view/lists/partial" "$view/cache/archives/partial"
: > "$view/etc/sources.list"
{
  echo "Types: deb"
  echo "URIs: $uri"
  echo "Suites: bookworm"
  echo "Components: main non-free-firmware"
  echo "Architectures: amd64 arm64"
  [ -n "$key" ] && echo "Signed-By: $key"
} > "$view/etc/sources.list.d/hmk.sources"
apt_opts=(-o "Dir::Etc=$view/etc" -o "Dir::State::Lists=$view/lists" -o "Dir::Cache=$view/cache"
  -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64" -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq
kernel=$(apt-cache "${apt_opts[@]}" show linux-image-arm64:arm64 | awk -F'[ ,(]+' '/^Depends:/ {print $2; exit}')
if [ -z "$kernel" ]; then
  echo "hmk: cannot find Debian's arm64 kernel package (for bcm2711-rpi-4-b.dtb)" >&2
  exit 1
fi
work="$view/debs"
mkdir -p "$work"
(cd "$work" && apt-get "${apt_opts[@]}" download -qq raspi-firmware "$kernel:arm64") || {
  echo "hmk: could not download raspi-firmware and $kernel from Debian" >&2
  exit 1
}
dpkg-deb --fsys-tarfile "$work"/raspi-firmware_*.deb | tar -x -C "$work" ./usr/lib/raspi-firmware/start4.elf ./usr/lib/raspi-firmware/fixup4.dat
dpkg-deb --fsys-tarfile "$work"/linux-image-*.deb | tar -x -C "$work" --wildcards './usr/lib/linux-image-*/broadcom/bcm2711-rpi-4-b.dtb'
cp "$work"/usr/lib/raspi-firmware/start4.elf "$work"/usr/lib/raspi-firmware/fixup4.dat "$out/"
cp "$work"/usr/lib/linux-image-*/broadcom/bcm2711-rpi-4-b.dtb "$out/"
rm -rf "$work"
