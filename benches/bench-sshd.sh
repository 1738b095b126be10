#!/usr/bin/env bash
# Shared by compare-net.sh and compare-scale.sh (NET=1): a throwaway sshd on 127.0.0.1:2222,
# keys and config in $W (run inside a private network namespace). Sets SSH and SCP to commands
# that reach it as root; the caller's EXIT trap stops it (kill "$(cat "$W/sshd.pid")").
start_sshd() {
  [ -f "$W/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/hostkey"
  [ -f "$W/userkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/userkey"
  cp "$W/userkey.pub" "$W/authorized_keys"
  cat > "$W/sshd_config" <<CFG
Port 2222
ListenAddress 127.0.0.1
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
  /usr/sbin/sshd -f "$W/sshd_config"
  SSH="ssh -p 2222 -i $W/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
  SCP="scp -q -P 2222 -i $W/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
}
