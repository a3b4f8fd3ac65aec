#!/usr/bin/env bash
# Run apt-get against another Debian suite (bullseye, sid, ...) through a private apt configuration,
# so nothing system-wide changes. The archive URIs are copied from the machine's own Debian sources.
#   scripts/apt-suite.sh SUITE update
#   scripts/apt-suite.sh SUITE download PACKAGE[:ARCH]...
#   scripts/apt-suite.sh SUITE source PACKAGE              (source package into the current directory)
#   scripts/apt-suite.sh SUITE policy|show|search|depends ... (apt-cache verbs)
# State lives under ${GUESTABI_CACHE:-$HOME/.cache/guestabi}/apt/SUITE.
set -euo pipefail
suite=${1:?usage: apt-suite.sh SUITE VERB [ARGS...]}
verb=${2:?usage: apt-suite.sh SUITE VERB [ARGS...]}
shift 2
cache=${GUESTABI_CACHE:-$HOME/.cache/guestabi}
root="$cache/apt/$suite"
mkdir -p "$root/lists/partial" "$root/archives/partial" "$root/etc/preferences.d"

sources=""
for f in /etc/apt/sources.list.d/*.sources; do [ -r "$f" ] && sources="$sources $f"; done
uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' $sources 2>/dev/null || true)
if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
  uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "apt-suite: no Debian archive URI found in /etc/apt/sources.list(.d)" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
types=deb
[ "$verb" = source ] && types=deb-src # a separate list dir below, so binary lists stay as they are
[ "$verb" = source ] && root="$root-src" && mkdir -p "$root/lists/partial" "$root/archives/partial" "$root/etc/preferences.d"
printf 'Types: %s\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$types" "$uri" "$suite" "$keyring" >"$root/debian.sources"

opts=(
  -o "Dir::Etc::sourcelist=$root/debian.sources"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::Etc::preferencesparts=$root/etc/preferences.d"
  -o "Dir::State::Lists=$root/lists"
  -o "Dir::Cache=$root"
  -o "Dir::Cache::archives=$root/archives"
  -o "Dir::Cache::pkgcache=$root/pkgcache.bin"
  -o "Dir::Cache::srcpkgcache=$root/srcpkgcache.bin"
  -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64"
  -o "APT::Get::List-Cleanup=0"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
case "$verb" in
  update) exec apt-get "${opts[@]}" update ;;
  download) exec apt-get "${opts[@]}" download "$@" ;;
  source)
    apt-get "${opts[@]}" update >/dev/null
    exec apt-get "${opts[@]}" source --download-only "$@" ;;
  policy|show|search|madison|showpkg|depends) exec apt-cache "${opts[@]}" "$verb" "$@" ;;
  *) echo "apt-suite: unknown verb '$verb'" >&2; exit 2 ;;
esac
