#!/usr/bin/env bash
# Shared by compare-net.sh, compare-scale.sh (NET=1) and reach-wan.sh: a throwaway sshd on
# ADDR:2222 (`start_sshd [ADDR [LAUNCHER...]]`, default 127.0.0.1; LAUNCHER e.g. `ip netns exec
# NS` runs it there), keys and config in $W (run inside a private network namespace). Sets SSH
# and SCP to commands that reach it as root; the caller's EXIT trap stops it (kill "$(cat
# "$W/sshd.pid")").
start_sshd() {
  local listen=${1:-127.0.0.1}
  shift || true
  [ -f "$W/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/hostkey"
  [ -f "$W/userkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/userkey"
  cp "$W/userkey.pub" "$W/authorized_keys"
  cat > "$W/sshd_config" <<CFG
Port 2222
ListenAddress $listen
HostKey $W/hostkey
AuthorizedKeysFile $W/authorized_keys
PermitRootLogin yes
StrictModes no
PasswordAuthentication no
UsePAM no
PidFile $W/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
  mkdir -p /run/sshd
  "$@" /usr/sbin/sshd -f "$W/sshd_config"
  SSH="ssh -p 2222 -i $W/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
  SCP="scp -q -P 2222 -i $W/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
}
