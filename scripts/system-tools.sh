#!/bin/sh
# The system programs the test suite uses for interop checks. Installs the
# missing ones with apt-get (needs root); otherwise says exactly what is missing.
set -eu
need=""
have() { command -v "$1" >/dev/null 2>&1; }
have openssl    || need="$need openssl"
have ssh-keygen || need="$need openssh-client"
have sha256sum  || need="$need coreutils"
have 7z         || need="$need p7zip-full"
have pdftotext  || need="$need poppler-utils"
have pdftoppm   || need="$need poppler-utils"
have pdfsig     || need="$need poppler-utils"
have qpdf       || need="$need qpdf"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ] || ! have apt-get; then
  echo "missing system tools:$need (install them, e.g. apt-get install$need)" >&2
  exit 1
fi
echo "installing:$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
