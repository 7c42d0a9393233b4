# rig: --system
# params: --no-load
# mem: 2048
# kernels: debian
# kvstore installed on a Debian 13 system as the README tells a user (rig/run
# --system: make install, make install-dkms, dkms install, kvstore.service
# enabled): the unit passes systemd-analyze verify; kv.ko is DKMS's, built
# from the packaged sources for the running kernel (by the host's DKMS in the
# trixie chroot, or with --dkms-build-in-guest by the guest's) and installed
# by the guest's DKMS; /dev/kvstore has the udev rule's owner, group and mode, both
# after the install and at boot; a member of the kvstore group puts and
# gets, a user outside it is refused; the modprobe.d parameters apply (in
# kvctl stat and in sysfs, read by that user); the
# items, binary keys and values included, survive `systemctl restart
# kvstore` and a reboot byte for byte, and an expiring item keeps the time
# it had left; a save that fails keeps the previous one whole. Runs twice:
# after the first boot of the installed system (the rig's install boot,
# cached, came before it), then after the reboot it asks for.
. /extra/lib.sh
kver=$(uname -r)
keep=/var/tmp/kv-system-test # on the root file system: kept across the reboot

# The store's items as dump lines, sorted, without the items that expire
# (their ttl_ms changes with time).
stored() { kvctl dump | grep -v '"ttl_ms"' | sort; }

device_mode() { # NAME [FILE]: /dev/kvstore is root:kvstore 0660, as the udev
	# rule says (now, or as FILE recorded it)
	if [ -n "${2:-}" ]; then mode=$(cat "$2" 2>&1); else mode=$(stat -c '%U:%G %a' /dev/kvstore 2>&1); fi
	if [ "$mode" = "root:kvstore 660" ]; then pass "$1"; else fail "$1" "/dev/kvstore is '$mode', expected 'root:kvstore 660'"; fi
}

same_items() { # NAME: the store holds what was saved in $keep, byte for byte
	stored >"$keep/now"
	if cmp -s "$keep/expected" "$keep/now"; then
		pass "$1 ($(wc -l <"$keep/now") items)"
	else
		fail "$1" "items differ: $(diff "$keep/expected" "$keep/now" | head -n 4 | tr '\n' ' ')"
	fi
	kvctl get raw >"$keep/raw.now" 2>&1
	if cmp -s "$keep/raw.want" "$keep/raw.now"; then pass "$1/raw_value"; else fail "$1/raw_value" "kvctl get raw changed"; fi
}

ttl_kept() { # NAME: the item put with a 1 h TTL has a little under 1 h left
	left=$(kvctl ttl session 2>&1)
	case "$left" in
	*[!0-9]* | "") fail "$1" "kvctl ttl session: '$left'" ;;
	*) if [ "$left" -gt 3000000 ] && [ "$left" -le 3600000 ]; then pass "$1 ($left ms left)"; else fail "$1" "$left ms left, expected (3000000, 3600000]"; fi ;;
	esac
}

group_access() { # NAME: alice (in kvstore) puts and gets, bob (not) is refused
	expect "$1/member_put" 0 "" "" runuser -u alice -- kvctl put "member-$KV_BOOT" yes
	expect "$1/member_get" 0 "yes" "" runuser -u alice -- kvctl get "member-$KV_BOOT"
	out=$(runuser -u bob -- kvctl get "member-$KV_BOOT" 2>&1)
	status=$?
	case "$status:$out" in
	0:*) fail "$1/outsider_refused" "bob read the store: '$out'" ;;
	*[Pp]ermission\ denied*) pass "$1/outsider_refused" ;;
	*) fail "$1/outsider_refused" "exit $status, '$out' (expected permission denied)" ;;
	esac
	runuser -u alice -- kvctl del "member-$KV_BOOT" >/dev/null 2>&1
}

if [ "$KV_BOOT" = 1 ]; then
	# --- the install, and the service at boot -----------------------------
	out=$(systemd-analyze verify --man=no kvstore.service 2>&1)
	if [ $? = 0 ] && [ -z "$out" ]; then pass system/unit_verify; else fail system/unit_verify "$out"; fi
	check system/service_active systemctl is-active --quiet kvstore.service
	check system/service_enabled systemctl is-enabled --quiet kvstore.service
	ko=$(modinfo -n kv 2>&1)
	case "$ko" in
	"/lib/modules/$kver/updates/dkms/kv.ko"*) pass "system/dkms_installed ($ko)" ;;
	*) fail system/dkms_installed "modinfo -n kv: '$ko'" ;;
	esac
	expect system/dkms_status 0 "kvstore/0.1.0, $kver, x86_64: installed" "" dkms status kvstore/0.1.0
	# The rig's install boot recorded the device right after the install.
	device_mode system/device_mode_after_install /var/lib/kv-rig/installed-device
	device_mode system/first_boot/device_mode

	# --- users ------------------------------------------------------------
	useradd --create-home --groups kvstore alice && useradd --create-home bob
	group_access system/group

	# --- the items, then a restart with other parameters ------------------
	mkdir -p "$keep"
	kvctl clear >/dev/null
	# 40 random binary keys (1-64 bytes, the first one i) and values (0-256
	# bytes), in hex, from one read of /dev/urandom (a process costs
	# tens of milliseconds under TCG).
	head -c 16384 /dev/urandom | od -An -v -tu1 | awk '
		{ for (f = 1; f <= NF; f++) b[n++] = $f }
		END {
			p = 0
			for (i = 0; i < 40; i++) {
				klen = b[p++] % 64; vlen = (b[p] * 256 + b[p + 1]) % 257; p += 2
				k = sprintf("%02x", i); for (j = 0; j < klen; j++) k = k sprintf("%02x", b[p++])
				v = ""; for (j = 0; j < vlen; j++) v = v sprintf("%02x", b[p++])
				print k, v
			}
		}' >"$keep/items"
	while read -r k v; do
		kvctl --hex put "$k" "$v" || fail system/put "kvctl --hex put $k $v failed"
	done <"$keep/items"
	printf 'a\000b\nc\r\377' >"$keep/raw"
	kvctl put raw - <"$keep/raw"
	{ cat "$keep/raw"; echo; } >"$keep/raw.want" # get adds a newline
	kvctl put --ttl 1h session abc
	stored >"$keep/expected"
	echo 'options kv buckets=64 max_items=500 use_lru=2' >/etc/modprobe.d/kvstore.conf
	check system/restart systemctl restart kvstore.service
	same_items system/restart/items
	ttl_kept system/restart/ttl_kept
	expect system/restart/params 0 "max_items: 500
lru: sieve" "" sh -c 'kvctl stat | grep -E "^(max_items|lru):"'
	# The same through sysfs, readable by a user outside the group.
	expect system/restart/params_sysfs 0 "64 500 2 $(kvctl stat | sed -n 's/^curr_items: //p')" "" \
		su -s /bin/sh bob -c 'cd /sys/class/misc/kvstore && echo $(cat buckets max_items use_lru curr_items)'
	saved=$(stat -c '%a %s' /var/lib/kvstore/store.jsonl 2>&1)
	case "$saved" in
	"600 "[1-9]*) pass "system/saved_file (mode and size: $saved)" ;;
	*) fail system/saved_file "/var/lib/kvstore/store.jsonl: '$saved'" ;;
	esac
	left=$(ls /var/lib/kvstore)
	if [ "$left" = store.jsonl ]; then pass system/no_temporary_files; else fail system/no_temporary_files "/var/lib/kvstore holds: $left"; fi

	touch /run/kv-rig.reboot # the rig reboots the guest and runs this again
	exit $failed
fi

# --- after the reboot ------------------------------------------------------
check system/boot/service_active systemctl is-active --quiet kvstore.service
device_mode system/boot/device_mode
same_items system/reboot/items
ttl_kept system/reboot/ttl_kept
group_access system/boot/group
out=$(journalctl -b -u kvstore.service -o cat 2>&1)
case "$out" in
*"loaded 42 items"*) pass system/boot/journal_restored ;;
*) fail system/boot/journal_restored "journal of kvstore.service: $(echo "$out" | tail -n 3 | tr '\n' ' ')" ;;
esac

# --- a save that fails ------------------------------------------------------
# No room for the save (the state directory a tmpfs exactly as large as the
# saved file): the stop fails, the previous save stays whole, no temporary
# file is left, and kv.ko stays loaded with the items.
state=/var/lib/kvstore
cp "$state/store.jsonl" "$keep/saved"
mount -t tmpfs -o "size=$(stat -c %s "$keep/saved"),mode=0700" kvstore-full "$state"
cp "$keep/saved" "$state/store.jsonl"
chmod 600 "$state/store.jsonl"
systemctl stop kvstore.service
check system/failed_save/unit_failed systemctl is-failed --quiet kvstore.service
out=$(journalctl -b -u kvstore.service -o cat 2>&1)
case "$out" in
*"kvctl dump failed: kv.ko left loaded"*) pass system/failed_save/journal ;;
*) fail system/failed_save/journal "journal of kvstore.service: $(echo "$out" | tail -n 3 | tr '\n' ' ')" ;;
esac
if cmp -s "$keep/saved" "$state/store.jsonl"; then pass system/failed_save/previous_kept; else fail system/failed_save/previous_kept "store.jsonl changed"; fi
left=$(ls -A "$state")
if [ "$left" = store.jsonl ]; then pass system/failed_save/no_temporary_files; else fail system/failed_save/no_temporary_files "$state holds: $left"; fi
if grep -q '^kv ' /proc/modules; then same_items system/failed_save/items; else fail system/failed_save/items "kv.ko was unloaded"; fi
umount "$state"
exit $failed
