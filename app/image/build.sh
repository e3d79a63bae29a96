#!/usr/bin/env bash
# Builds a FROM-scratch image of one of the workspace's binaries, without a Docker daemon,
# into an OCI layout directory:
#
#   app/image/build.sh PACKAGE BINARY CONTAINERFILE OUT_DIR
#   (make image:            spillover-demo-app spillover-demo-app app/Containerfile target/image/app)
#   (make image-controller: spillover          spillover          Containerfile     target/image/controller)
#
# IMAGE_PROFILE=release|dev picks the cargo profile (default release); IMAGE_TAG the tag
# (default latest). Needs buildah (Debian: apt-get install buildah) and the CA bundle of
# Debian's ca-certificates. Prints the image's size.
#
# Static linking: glibc, with `-C target-feature=+crt-static` on the host's own gnu target.
# - musl would need rustup to fetch its standard library from rustup's own server, which
#   a machine that reaches only package registries cannot count on; glibc's static
#   libraries come with Debian's libc6-dev, which gcc already brought.
# - `--target` is given explicitly so RUSTFLAGS reach only the binary and its
#   dependencies, not build scripts and proc macros (those stay dynamic host programs).
# - The linker warns that getaddrinfo "requires at runtime the shared libraries": since
#   glibc 2.34 the `files` and `dns` lookups are built into the static libc, so /etc/hosts
#   and /etc/resolv.conf (both provided by Lambda and by ECS at run time) are enough.
#   No dlopen happens without an /etc/nsswitch.conf naming other modules.
set -euo pipefail
cd "$(dirname "$0")/../.."

[[ $# -eq 4 ]] || { echo "usage: $0 PACKAGE BINARY CONTAINERFILE OUT_DIR" >&2; exit 2; }
package=$1 binary=$2 containerfile=$3 out=$4
profile=${IMAGE_PROFILE:-release}
tag=${IMAGE_TAG:-latest}
ca_bundle=/etc/ssl/certs/ca-certificates.crt

command -v buildah >/dev/null || { echo "build.sh: buildah not found (apt-get install buildah)" >&2; exit 2; }
[[ -s $ca_bundle ]] || { echo "build.sh: $ca_bundle missing (apt-get install ca-certificates)" >&2; exit 2; }

target=$(rustc -vV | sed -n 's/^host: //p')
case $target in
  *-linux-gnu) ;;
  *) echo "build.sh: host target $target is not a glibc Linux target" >&2; exit 2 ;;
esac

echo "== cargo build --profile $profile --bin $binary --target $target (static glibc)"
# The executable's path as cargo reports it (CARGO_TARGET_DIR and build.target-dir move it).
bin=$(RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" python3 -m world.binary --build --name "$binary" -- \
  --profile "$profile" --package "$package" --bin "$binary" --target "$target")

# A dynamic executable would fail in a scratch image only at run time: refuse it here.
if readelf -l "$bin" | grep -q 'Requesting program interpreter' || readelf -d "$bin" | grep -q '(NEEDED)'; then
  echo "build.sh: $bin is not statically linked" >&2
  exit 1
fi

# The build context holds exactly what the Containerfile copies.
context="target/image/$(basename "$out").context"
rm -rf "$context" && mkdir -p "$context"
cp "$bin" "$context/$binary"
cp app/image/passwd app/image/group "$context/"
cp "$ca_bundle" "$context/ca-certificates.crt"
chmod 0755 "$context/$binary"
chmod 0644 "$context/passwd" "$context/group" "$context/ca-certificates.crt"

# A throw-away container store: a FROM scratch build caches nothing worth keeping, and a
# store of its own leaves the machine's (and any running buildah's) alone.
store=$(mktemp -d "${TMPDIR:-/tmp}/spillover-image.XXXXXX")
trap 'buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true; rm -rf "$store"' EXIT
bah=(buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs)
name="localhost/$(basename "$out"):$tag"
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)

echo "== buildah bud -f $containerfile ($name)"
"${bah[@]}" bud --quiet --isolation chroot --timestamp "$epoch" -f "$containerfile" -t "$name" "$context" >/dev/null
rm -rf "$out" && mkdir -p "$(dirname "$out")"
"${bah[@]}" push --quiet "$name" "oci:$out:$tag"

# Size: the blobs a registry stores and a puller downloads (manifest, config, compressed
# layer), and the root filesystem unpacked.
stored=$(find "$out/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
unpacked=$(du -sb --apparent-size "$context" | cut -f1)
echo "image $out:$tag ($profile): $stored bytes stored (compressed), about $unpacked bytes unpacked; binary $(stat -c %s "$bin") bytes"
