# Sourced by scripts/setup and scripts/install.sh: apt-get that waits for
# the package lock instead of failing. Another apt (unattended-upgrades
# after a first boot, a desktop's updater) may hold it. apt waits for
# dpkg's lock itself (DPkg::Lock::Timeout); the lock of `apt-get update` on
# the package lists it does not wait for, so that is tried again meanwhile.
#
#   APT_SUDO=sudo APT_WHO=setup; . scripts/apt.sh
#   apt_update && apt_get install -y -qq PACKAGE
#
# APT_LOCK_WAIT: seconds to wait for a lock (default 600).

lock_wait="${APT_LOCK_WAIT:-600}"

apt_get() { ${APT_SUDO:-} env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$lock_wait" "$@"; }

apt_update() {
    local waited=0 out
    until out=$(apt_get update -qq 2>&1); do
        if ! grep -q "Could not get lock" <<<"$out" || [ "$waited" -ge "$lock_wait" ]; then
            echo "$out" >&2
            return 1
        fi
        [ "$waited" -eq 0 ] && echo "${APT_WHO:-apt}: another process is installing packages; waiting for it (up to ${lock_wait} s)"
        sleep 1
        waited=$((waited + 1))
    done
}
