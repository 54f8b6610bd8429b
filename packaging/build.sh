#!/usr/bin/env bash
# Builds the zerofault packages: zerofault-agent and zerofault-collector, each as .deb
# (cargo-deb) and .rpm (cargo-generate-rpm), into $CARGO_TARGET_DIR/packages/ (target/packages/
# without CARGO_TARGET_DIR), and prints their paths, one a line, after "==> packages:".
#
#   packaging/build.sh [--no-build] [--deb-only] [--deb-version VERSION]
#                      [--rpm-release RELEASE] [--out DIR]
#
#   --no-build             package the release binaries already built (no cargo build)
#   --deb-only             no .rpm
#   --deb-version VERSION  the .deb's version instead of Cargo's version + "-1", e.g. to
#                          build a newer package of the same binaries (the upgrade test)
#   --rpm-release RELEASE  the .rpm's release instead of "1" (the rpm upgrade test)
#   --out DIR              where the packages go
#
# cargo-deb and cargo-generate-rpm are not Debian packages: they are installed from crates.io
# (pinned versions, --locked) into $ZEROFAULT_TOOLS (default /var/tmp/zerofault-tools, outside
# the clone, kept between runs) when missing there. Needs dpkg-shlibdeps (Debian package
# dpkg-dev) for the .deb's Depends. packaging/README.md describes the layout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
tools=${ZEROFAULT_TOOLS:-/var/tmp/zerofault-tools}

no_build=0
deb_only=0
deb_version=
rpm_release=1
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) no_build=1 ;;
    --deb-only) deb_only=1 ;;
    --deb-version) deb_version=${2:?--deb-version needs a value}; shift ;;
    --rpm-release) rpm_release=${2:?--rpm-release needs a value}; shift ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
export CARGO_TARGET_DIR=$target
out=${out:-$target/packages}
mkdir -p "$out"
out=$(cd "$out" && pwd -P)

step() { printf '==> %s\n' "$*" >&2; }

# One build.sh at a time (a lock held until it exits): two would share, and remove, the
# tools' build directory and target/release/zerofault-assets.
mkdir -p "$tools"
exec 9>"$tools/.lock"
flock 9
# Installs cargo subcommand $1 at version $2 into $tools unless that version is there.
tool() {
  local name=$1 version=$2
  if "$tools/bin/$name" "${name#cargo-}" --version 2>/dev/null | grep -qF " $version"; then
    return
  fi
  step "installing $name $version into $tools (once; crates.io, --locked)"
  CARGO_TARGET_DIR="$tools/build" cargo install --quiet --locked --force \
    --version "$version" --root "$tools" "$name"
  rm -rf "$tools/build"
}
tool cargo-deb "$CARGO_DEB_VERSION"
[ "$deb_only" = 1 ] || tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
export PATH="$tools/bin:$PATH"
command -v dpkg-shlibdeps >/dev/null || {
  echo "build.sh: dpkg-shlibdeps is missing: apt-get install dpkg-dev" >&2
  exit 1
}

bins=(zerofault-agent zerofault-collector)
release=$target/release
if [ "$no_build" = 0 ]; then
  step "cargo build --release (${bins[*]})"
  cargo build --release --locked -p zerofault-agent -p zerofault-collector
fi

for bin in "${bins[@]}"; do
  [ -x "$release/$bin" ] || {
    echo "build.sh: $release/$bin is missing (run without --no-build)" >&2
    exit 1
  }
  # The packages depend on libc6 and libgcc-s1 only (glibc, libgcc_s): refuse a binary that
  # starts linking anything else rather than ship a package with a wrong Depends.
  needed=$(readelf -d "$release/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
  for lib in $needed; do
    case "$lib" in
      libc.so.6 | libm.so.6 | libgcc_s.so.1 | ld-linux-*.so.*) ;;
      *) echo "build.sh: $bin links $lib; the packages allow only glibc and libgcc_s" >&2; exit 1 ;;
    esac
  done
  # Man pages and completions from the binary's own command line (hidden subcommand).
  assets=$release/zerofault-assets/$bin
  rm -rf "$assets"
  "$release/$bin" generate-assets --out "$assets" >/dev/null
  gzip -9 -n -f "$assets"/man/*.1
done

packages=()
for bin in "${bins[@]}"; do
  # The .deb's changelog starts with the version it is built as (lintian reads it).
  version=$(cargo pkgid -p "$bin" | sed 's/.*[@#]//')
  top=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "packaging/deb/$bin.changelog")
  if [ -z "$deb_version" ] && [ "$top" != "$version-1" ]; then
    echo "build.sh: packaging/deb/$bin.changelog starts with $top, not $version-1: add an entry" >&2
    exit 1
  fi
  step "cargo deb -p $bin"
  args=(deb -p "$bin" --no-build --no-strip --locked --output "$out/")
  [ -z "$deb_version" ] || args+=(--deb-version "$deb_version")
  path=$(cargo "${args[@]}" | tail -n 1)
  packages+=("$path")
  if [ "$deb_only" = 0 ]; then
    # name-version-release.arch.rpm.
    rpm=$out/$bin-$version-$rpm_release.$(uname -m).rpm
    # generate-rpm's -p is the crate's directory (agent/, collector/).
    step "cargo generate-rpm -p ${bin#zerofault-}"
    cargo generate-rpm -p "${bin#zerofault-}" --set-metadata "release = \"$rpm_release\"" \
      --output "$rpm" >&2
    packages+=("$rpm")
  fi
done

echo "==> packages:"
printf '%s\n' "${packages[@]}"
