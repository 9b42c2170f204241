#!/usr/bin/env bash
# Installs the host packages hmk's build tool needs (QEMU with the raspi4b machine, SD-image
# tools), when they are missing. As root it uses apt; otherwise it prints one line saying what to
# install and exits non-zero. The bookworm-backports source is derived from the machine's own
# Debian source entry, so no package-registry host name is written anywhere in the repository.
set -euo pipefail

need_qemu=0
if ! command -v qemu-system-aarch64 >/dev/null 2>&1; then
  need_qemu=1
elif ! qemu-system-aarch64 -M help 2>/dev/null | grep -q '^raspi4b'; then
  need_qemu=1
fi
missing_tools=()
command -v mcopy >/dev/null 2>&1 || missing_tools+=(mtools)
command -v mkfs.vfat >/dev/null 2>&1 || missing_tools+=(dosfstools)
command -v sfdisk >/dev/null 2>&1 || missing_tools+=(fdisk)
command -v dpkg-deb >/dev/null 2>&1 || missing_tools+=(dpkg)

if [ "$need_qemu" = 0 ] && [ "${#missing_tools[@]}" = 0 ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "hmk: missing host tools: install Debian qemu-system-arm from bookworm-backports (it has raspi4b) and: mtools dosfstools fdisk" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ "$need_qemu" = 1 ]; then
  src=/etc/apt/sources.list.d/hmk-backports.sources
  if [ ! -f "$src" ]; then
    base=/etc/apt/sources.list.d/debian.sources
    uri=""; key=""
    if [ -f "$base" ]; then
      uri=$(awk '/^URIs:/ {print $2; exit}' "$base")
      key=$(awk '/^Signed-By:/ {print $2; exit}' "$base")
    elif [ -f /etc/apt/sources.list ]; then
      uri=$(awk '$1=="deb" && $0 ~ / bookworm / {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
    fi
    if [ -z "$uri" ]; then
      echo "hmk: cannot find this machine's Debian apt source; install qemu-system-arm from bookworm-backports by hand" >&2
      exit 1
    fi
    {
      echo "Types: deb"
      echo "URIs: $uri"
      echo "Suites: bookworm-backports"
      echo "Components: main"
      [ -n "$key" ] && echo "Signed-By: $key"
    } > "$src"
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-arm >/dev/null
fi
if [ "${#missing_tools[@]}" != 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing_tools[@]}" >/dev/null
fi
