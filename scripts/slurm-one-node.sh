#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the Slurm runner's tests: munge, slurmctld and slurmd from Debian's
# slurm-wlm, one node with this machine's CPUs and memory, one partition ("modelfab"), accounting off. Idempotent:
# a cluster already answering is left as it is. Needs root (or sudo). Prints the partition's state when ready.
#
#   sudo bash scripts/slurm-one-node.sh
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then exec sudo -E bash "$0" "$@"; fi

need=()
for p in slurm-wlm munge; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

ready() { sinfo -h -p modelfab -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }
if ready; then echo "slurm: up ($(sinfo -h -p modelfab -o '%D node(s) %T'))"; exit 0; fi

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))"

# munge: a key, then the daemon as its own user
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 400 /etc/munge/munge.key
chmod 711 /run/munge
if ! pgrep -x munged >/dev/null; then runuser -u munge -- /usr/sbin/munged; fi

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<EOF
# written by modelfab's scripts/slurm-one-node.sh
ClusterName=modelfab
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=600
KillWait=10
SchedulerType=sched/backfill
NodeName=${host} CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=modelfab Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF

pkill -x slurmctld 2>/dev/null || true
pkill -x slurmd 2>/dev/null || true
sleep 1
/usr/sbin/slurmctld -c    # -c: a fresh state (no jobs left over from an earlier cluster)
/usr/sbin/slurmd
for _ in $(seq 1 60); do
  if ready; then echo "slurm: up ($(sinfo -h -p modelfab -o '%D node(s) %T, %c CPUs'))"; exit 0; fi
  scontrol update nodename="${host}" state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm: the node did not come up; see /var/log/slurm/" >&2
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
