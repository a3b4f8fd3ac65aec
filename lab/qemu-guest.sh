#!/bin/busybox sh
# Runs inside a lab guest (busybox + a QEMU sysroot, see lab/qemu-lib.mjs): Debian's arm64
# qemu-system-aarch64 with -accel kvm on the guest kernel's KVM, a VM that runs an 8-byte loop and
# boots no OS, driven over HMP on a FIFO.
#   sh qemu-guest.sh save MEM CPUOPTS     start the VM, stop it, migrate it to a file; record QEMU's
#                                         version and the CPU object's properties (qom-list)
#   sh qemu-guest.sh load MEM CPUOPTS     -incoming each /payload/streams/*.qemu in turn; record
#                                         whether it loaded and runs after `cont`, or QEMU's stderr
# CPUOPTS: "" or the extra options of -cpu host,CPUOPTS. Everything recorded goes into /tmp/out,
# which is written to stdout as a gzip'd tar in base64 (lab/init sends stdout to the host).
set -u
# QEMU may exit while we poll it (a failed load): a write to its monitor FIFO must then fail, not kill us.
trap '' PIPE
mode=$1 mem=$2 cpuopts=$3
out=/tmp/out
mkdir -p $out
QEMU=/usr/bin/qemu-system-aarch64
cpu=host
[ -n "$cpuopts" ] && cpu="host,$cpuopts"

# The loop at 0x40200000 (the DTB sits at the start of RAM when there is no -kernel).
start_qemu() { # NAME EXTRA-ARGS...: QEMU in the background, its monitor on the FIFO /tmp/NAME.in
  name=$1; shift
  rm -f /tmp/$name.in; mkfifo /tmp/$name.in
  $QEMU -accel kvm -M virt,gic-version=3 -cpu "$cpu" -smp 1 -m "$mem" -nodefaults -display none \
    -monitor stdio -device loader,file=/payload/loop.bin,addr=0x40200000,cpu-num=0 "$@" \
    </tmp/$name.in >$out/$name.monitor 2>$out/$name.stderr &
  pid=$!
  exec 3>/tmp/$name.in
  prompts=0
}

say() { echo "qemu-guest: $*" >&2; } # progress, on the console

# Running and not yet a zombie (kill -0 would also succeed on an unreaped zombie).
alive() { [ -r /proc/$pid/status ] && ! grep -q '^State:.*Z' /proc/$pid/status; }

# Waits (up to 60 s) for HMP prompt number $prompts+1, i.e. until the last command has answered.
# Fails if QEMU exits first.
await_prompt() {
  waited=0
  while [ "$(grep -o '(qemu)' $out/$name.monitor | wc -l)" -le $prompts ]; do
    alive || return 1
    waited=$((waited + 1)); [ $waited -lt 600 ] || return 1
    sleep 0.1
  done
  prompts=$((prompts + 1))
}

hmp() { # COMMAND: send it and wait for its answer (see answer)
  echo "$1" >&3 2>/dev/null || return 1
  await_prompt
}

# The answer to the last command: the monitor text between the last two prompts, less the echoed
# command line. (Not in a $(...) of hmp: $prompts must be counted in this shell.)
answer() {
  tr -d '\r' <$out/$name.monitor | awk '{s = s $0 "\n"} END {n = split(s, a, /\(qemu\) /); printf "%s", a[n - 1]}' | sed 1d
}

status() { # sets $st to the state `info status` reports ("running", "paused (inmigrate)", ...)
  st=
  hmp "info status" || return 1
  st=$(answer | sed -n 's/^VM status: //p' | head -n1)
}

stop_qemu() { # quit if still alive, then reap; the exit code lands in $out/NAME.exit
  alive && echo quit >&3 2>/dev/null
  exec 3>&-
  wait $pid
  echo $? >$out/$name.exit
  say "$name: QEMU exited with $(cat $out/$name.exit)"
}

case $mode in
save)
  $QEMU --version | head -n1 >$out/version
  start_qemu save
  if await_prompt && status && [ "$st" = running ] && hmp stop && hmp 'migrate "exec:cat > /tmp/out/stream.qemu"'; then
    i=0
    # "Migration status: completed" up to QEMU 9, "Status: completed" since.
    while hmp "info migrate" && ! answer | grep -qi 'status:[[:space:]]*completed'; do
      answer | grep -qiE 'status:[[:space:]]*(failed|cancelled)' && break
      i=$((i + 1)); [ $i -lt 300 ] || break
      sleep 0.1
    done
    answer >$out/migrate-status
    say "save: $(grep -i 'status:' $out/migrate-status | head -n1), $(wc -c </tmp/out/stream.qemu) bytes"
    # The CPU is the virt board's first unattached device; its type says so.
    hmp "qom-get /machine/unattached/device[0] type" && answer >$out/cpu-type
    hmp "qom-list /machine/unattached/device[0]" && answer >$out/cpu-properties
  fi
  stop_qemu
  ;;
load)
  for s in /payload/streams/*.qemu; do
    k=$(basename "$s" .qemu)
    start_qemu "load-$k" -incoming "exec:cat $s"
    if await_prompt; then
      # Poll until the stream is read: "paused (inmigrate)" while loading, "paused" once loaded.
      i=0
      while status && [ "$st" = "paused (inmigrate)" ]; do
        i=$((i + 1)); [ $i -lt 300 ] || break
        sleep 0.1
      done
      if alive; then
        echo "$st" >$out/$name.loaded-status
        say "$name: loaded ($st)"
        hmp cont && sleep 1 && status && echo "$st" >$out/$name.cont-status
      fi
    fi
    stop_qemu
  done
  ;;
*) echo "qemu-guest.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
tar -c -C $out . | gzip -9 | base64
