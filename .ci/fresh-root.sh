#!/usr/bin/env bash
# The fresh-machine check: runs README.md's commands, exactly as written, as
# root inside a freshly debootstrapped Debian root of RELEASE (no LANG, no
# sudo, the clone under /root, which is mode 700).
#
#   bash .ci/fresh-root.sh RELEASE COMMAND...      e.g. bookworm 'bash scripts/test.sh'
#
# Each COMMAND runs in turn in /root/hashring inside the root (all of them,
# even after one fails; the exit status is non-zero if any failed).  The root is
# unpacked from a pristine tarball of `debootstrap RELEASE`, cached under
# /var/cache/hashring-ci/ (made on the first run: CI machines start empty);
# a root is never reused.  Everything made here (mounts, processes, the
# root) is removed on exit.  Prints the number of packages the commands
# installed.
set -euo pipefail
release=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
mirror=${HASHRING_CI_MIRROR:-http://deb.debian.org/debian}
cache=${HASHRING_CI_CACHE:-/var/cache/hashring-ci}
arch=$(dpkg --print-architecture)
tarball=$cache/$release-$arch.tar
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

root=$(mktemp -d "/tmp/hashring-root-$release.XXXXXX")
chmod 755 "$root"    # as a real /: apt's _apt user must be able to enter it
t0=$(date +%s)
log() { printf '[%s %4ds] %s\n' "$release" $(( $(date +%s) - t0 )) "$*" >&2; }
cleanup() {
    local rc=$? p m
    # processes whose root is ours (servers left by a failed test), then mounts
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
    done
    sleep 1
    for m in var/cache/apt/archives dev/shm dev/pts dev proc; do
        mountpoint -q "$root/$m" && umount -l "$root/$m" || true
    done
    # only remove the root once nothing is mounted inside it any more
    if ! grep -q " $root/" /proc/mounts; then rm -rf "$root"; else echo "left $root: still mounted" >&2; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
    log "debootstrap $release (first run on this machine: cached as $tarball)"
    debootstrap "$release" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
        { tail -20 "$root.debootstrap.log" >&2; rm -f "$root.debootstrap.log"; exit 1; }
    rm -f "$root.debootstrap.log"
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
else
    log "unpacking the pristine $release root from $tarball"
    tar -C "$root" --numeric-owner -xf "$tarball"
    chmod 755 "$root"
fi

# What the machine itself provides (not part of the project): name
# resolution, and for the frozen sid snapshot, whose Release file has
# expired, apt's permission to use it anyway.
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The machine's extra certificate authorities (an egress proxy that
# re-signs TLS, as here), where an administrator puts them, and npm's
# cafile setting: the npm registry is reached through them.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    [ -f "$root/etc/ssl/certs/ca-certificates.crt" ] ||
        cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    [ -f /etc/npmrc ] && cp /etc/npmrc "$root/etc/npmrc"
fi
if [ "$release" = sid ]; then
    echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99hashring-ci-frozen-snapshot"
fi

mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" 2>/dev/null || mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
# apt's download directory is kept between runs, one per release, outside
# the root (HASHRING_CI_DEBS=0: not): apt still updates its lists and
# verifies every .deb against them, and dpkg installs each package as on a
# new machine; only the download of a file already fetched is skipped (about
# 500 packages, 300-400 MB, a release).  Files apt no longer lists are
# removed at the end (apt-get autoclean).
debs=
if [ "${HASHRING_CI_DEBS:-1}" = 1 ]; then
    debs=$cache/debs-$release-$arch
    mkdir -p "$debs/partial"
    mount --bind "$debs" "$root/var/cache/apt/archives"
fi

# the clone: the tree under test, without build products or node_modules
mkdir -p "$root/root/hashring"
chmod 700 "$root/root"
tar -C "$src" --exclude=.git --exclude=node_modules --exclude="tmp_check*" --exclude=results \
    --exclude=output_iso --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . |
    tar -C "$root/root/hashring" -xf -

in_root() {   # the environment of a root login on a fresh machine: no LANG
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb USER=root LOGNAME=root SHELL=/bin/bash \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "cd /root/hashring && $1"
}
before=$(in_root "dpkg-query -W -f='\${db:Status-Abbrev}\n' | grep -c '^ii'")
status=0
for cmd in "$@"; do
    log "running: $cmd"
    s=$(date +%s)
    # in the background, so that a TERM or INT runs the cleanup at once
    # rather than after the command
    in_root "$cmd" &
    # every command runs, whatever the one before did (a suite failure must
    # not hide whether the demo works)
    rc=0
    wait $! || rc=$?
    if [ $rc = 0 ]; then log "passed in $(( $(date +%s) - s )) s: $cmd"; else
        status=$rc
        log "FAILED ($rc) in $(( $(date +%s) - s )) s: $cmd"
    fi
done
[ -z "$debs" ] || in_root "! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get autoclean -qq >/dev/null 2>&1 || true"
after=$(in_root "dpkg-query -W -f='\${db:Status-Abbrev}\n' | grep -c '^ii'")
pg=$(in_root "ls /usr/lib/postgresql 2>/dev/null" | tr "\n" " " || true)
log "packages: $before in the pristine root, $after after ($(( after - before )) installed); PostgreSQL: $pg"
exit $status
