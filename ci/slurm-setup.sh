#!/bin/bash
# Single-node Slurm on Debian 12 (slurm-wlm 22.05 from Debian), as root, without systemd
# (containers: PID 1 is not systemd and cgroups are not delegated).
# Used by ci/slurm-e2e.sh; runs on a 2-CPU Debian 12 container.
#
#   sudo ci/slurm-setup.sh            # install, configure, start munged + slurmctld + slurmd
#   WITH_GPU_GRES=0 ci/slurm-setup.sh # same, but without a "gpu" GRES on the node
#
# WITH_GPU_GRES=1 (default) declares one "gpu" GRES on the node (File=/dev/null stand-in), so
# that jobs submitted with IDPSIM_GRES=gpu:1 (examples/slurm/array.sbatch) are schedulable;
# without it sbatch refuses them ("Invalid generic resource (gres) specification").
#
# Daemon PIDs end up in /run/munge/munged.pid, /run/slurmctld.pid, /run/slurmd.pid.
# Stop:  kill $(cat /run/slurmd.pid) $(cat /run/slurmctld.pid) $(cat /run/munge/munged.pid)
set -euo pipefail
WITH_GPU_GRES=${WITH_GPU_GRES:-1}

# 1. Packages (Debian's "slurm-wlm" metapackage = these three; munge comes as a dependency).
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v sbatch >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
# (postinst tries to start the services; with no systemd / a policy-rc.d this is refused: fine.)

HOST=$(hostname -s)
CPUS=$(nproc)
# RealMemory must not exceed what slurmd detects (slurmd -C), or the node goes INVAL/DRAIN.
MEM_MB=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 1024 ))

# 2. munge: the package creates /etc/munge/munge.key; create one if it is missing.
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0600 /etc/munge/munge.key
fi
# systemd's RuntimeDirectory=munge does this normally:
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n >/dev/null 2>&1; then           # (on a systemd host the package already started it)
    runuser -u munge -- /usr/sbin/munged      # daemonizes, writes /run/munge/munged.pid
fi
munge -n | unmunge >/dev/null                  # self-test

# 3. slurm.conf: one node = this host, one default partition, no cgroups, no accounting.
mkdir -p /etc/slurm
GRES_NODE=""
GRES_TYPES=""
if [ "$WITH_GPU_GRES" = 1 ]; then
    GRES_NODE="Gres=gpu:1"
    GRES_TYPES="GresTypes=gpu"
    cat > /etc/slurm/gres.conf <<EOF
# A stand-in GPU so that "--gres=gpu:1" is schedulable (the job uses lavapipe, a CPU Vulkan
# device). slurmd drops a gpu GRES that has no File ("Removing file-less GPU"), so point it at
# /dev/null; with TaskPlugin=task/none nothing is constrained by it.
NodeName=$HOST Name=gpu File=/dev/null
EOF
else
    rm -f /etc/slurm/gres.conf
fi
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroup plugins (cgroups are not delegated inside a container):
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
$GRES_TYPES
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB $GRES_NODE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
install -d -o slurm -g slurm /var/lib/slurm/slurmctld /var/log/slurm
install -d /var/lib/slurm/slurmd

# 4. Daemons in the background (-D = foreground, so & + nohup; they write their PID files).
nohup /usr/sbin/slurmctld -D >/var/log/slurm/slurmctld.stdout 2>&1 &
sleep 2
nohup /usr/sbin/slurmd -D >/var/log/slurm/slurmd.stdout 2>&1 &

# 5. Wait for the node to come up idle, then smoke-test. (A node drained by an earlier bad
#    config -- e.g. "gres/gpu count reported lower than configured" -- stays drained in the
#    saved state until resumed, even after the config is fixed.)
for i in $(seq 30); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null || true)
    [ "$state" = idle ] && break
    case "$state" in *drain*|*inval*) [ "$i" -gt 5 ] && scontrol update NodeName="$HOST" State=RESUME || true ;; esac
    sleep 1
done
sinfo
timeout 60 srun -N1 -n1 hostname
