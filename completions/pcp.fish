# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pcp_global_optspecs
    string join \n h/help V/version
end

function __fish_pcp_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pcp_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pcp_using_subcommand
    set -l cmd (__fish_pcp_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pcp -n "__fish_pcp_needs_command" -s h -l help -d 'Print help'
complete -c pcp -n "__fish_pcp_needs_command" -s V -l version -d 'Print version'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "sync" -d 'rsync-like sync of SRC... into DEST (`dir/` means the contents of dir, `dir` the dir itself)'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "cp" -d 'scp-like one-shot copy: -r for directories, overwrites, never deletes'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "send" -d 'One-shot: print a code, send PATH... to whoever enters it, exit'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "receive" -d 'One-shot: ask for the code, show what is offered, confirm, receive into DEST'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "serve" -d 'Answer sync/cp/ls for DIR: paired peers with no code, new ones with the one-time code it prints (or PCP_CODE; --no-code: none)'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "ls" -d 'List a peer\'s files, like rsync --list-only'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "pair" -d 'Pair two machines with a code, once: one hosts (prints `Code: ...`), the other joins with --addr and the code; later sync/cp/ls between them need no code'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "rendezvous" -d 'Run a rendezvous server (self-hosted): peers with no address meet through it, by a code\'s public channel word or a pairing\'s daily token; it never sees a secret or a file'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "peers" -d 'Paired peers (remembered after a first contact with a code): list, rename, forget'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c pcp -n "__fish_pcp_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l max-size -d 'Do not transfer any file larger than SIZE (as rsync: 500, 1.5m, 2G, 1kb = 1000, 1k = 1024, a trailing +1 or -1 adds or takes a byte). Such files are kept where they are, not deleted' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l backup-dir -d 'Backups go into DIR (relative to the destination, or absolute; on a peer it must stay inside the served directory), at the same relative path; implies --backup' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l suffix -d 'Backup suffix (default ~, or none with --backup-dir)' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l chmod -d 'Change the permissions the source sent, as chmod(1) does (rsync\'s syntax: D755,F644 or u+rwX,go-w; D: directories only, F: the rest); with -p they apply to every entry, without it to new ones' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l min-size -d 'Do not transfer any file smaller than SIZE (see --max-size)' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s @ -l modify-window -d 'Mtimes at most NUM seconds apart are the same (compared in whole seconds, as rsync\'s default 0; 1 for FAT). Without it, or negative, pcp compares to the nanosecond' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l max-delete -d 'Delete at most N files' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l exclude -d 'Exclude files matching PATTERN (gitignore syntax; first matching rule wins)' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l include -d 'Include files matching PATTERN (wins over later excludes)' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l exclude-from -d 'Read exclude patterns from FILE (\'-\' for stdin)' -r -F
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l include-from -d 'Read include patterns from FILE (\'-\' for stdin): they come after --include and before the excludes (`--include-from=list --exclude=\'*\'` copies what the list names)' -r -F
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s f -l filter -d 'A filter rule: \'- PATTERN\' or \'+ PATTERN\'' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l bwlimit -d 'Limit chunk data to RATE per second (KiB by default; suffixes K, M, G; 0 = no limit; also `bwlimit` in config.toml)' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l wait-lock -d 'When another pcp run is writing into the same destination, wait up to SECONDS for it (default 0: fail at once, exit 35)' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l manifest -d 'Use this manifest database for the destination instead of the one under the state dir' -r -F
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l addr -d 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l code-file -d 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)' -r -F
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l retries -d 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l timeout -d 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l rendezvous -d 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l as -d 'The name this machine offers the peer to remember it by (default: the hostname)' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l congestion -d 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION' -r -f -a "bbr\t'Model-based (delivery rate and minimum RTT): holds throughput under random loss'
cubic\t'Loss-based: halves its window on every loss'"
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l info -d 'rsync\'s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing' -r
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s a -l archive -d 'Archive mode: -rlpt (pcp does not copy owners, groups or devices)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s u -l update -d 'Skip files that are newer on the destination (a strictly later mtime)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l ignore-existing -d 'Skip updating anything that already exists on the destination (new files only)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l existing -l ignore-non-existing -d 'Skip creating anything new on the destination: only what exists there is updated'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l size-only -d 'The quick check compares sizes only, not mtimes'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s b -l backup -d 'Keep what is replaced or deleted: renamed FILE~ beside it (--suffix), or moved into --backup-dir. Crash-safe: the old version is kept before the new one is renamed in'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s m -l prune-empty-dirs -d 'Prune empty directory chains: a directory with no file or link beneath it (after the filters) is not copied'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s x -l one-file-system -d 'Do not cross file-system boundaries: a mount point is copied as an empty directory'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s I -l ignore-times -d 'No quick check: compare every file, even when size and mtime match'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s r -l recursive -d 'Recurse into directories'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-recursive -l no-r -d 'Do not recurse, even with -a (rsync\'s --no-OPTION: the last of the two wins)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-inc-recursive -l no-i-r -d 'Accepted for rsync scripts (`--info=progress2 --no-inc-recursive`): pcp always streams its file list, so there is no incremental recursion to turn off'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l mkpath -d 'Create the destination\'s missing parent directories too (without it, as rsync, only the last component is created, and a missing parent is an error, exit 11)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s l -l links -d 'Copy symlinks as symlinks'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-links -l no-l -d 'Do not copy symlinks, even with -a'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s p -l perms -d 'Preserve permissions'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-perms -l no-p -d 'Do not preserve permissions, even with -a'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s t -l times -d 'Preserve modification times'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-times -l no-t -d 'Do not preserve modification times, even with -a'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s W -l whole-file -d 'Accepted for rsync scripts and ignored: pcp\'s chunks already send whole files when nothing matches and only changed chunks otherwise'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s O -l omit-dir-times -d 'Leave directories\' mtimes alone (files\' are still kept with -t)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s n -l dry-run -d 'Show what would change; change nothing'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s c -l checksum -d 'Compare file content, not size and modification time'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l delete -l delete-after -l delete-before -l delete-during -l delete-delay -l del -d 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync\'s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l delete-excluded -d 'Also delete files in DEST that the filters exclude (implies --delete)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l force -d 'Accepted for rsync scripts: pcp\'s --delete already replaces a non-empty directory by a file and back'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l gitignore -d 'Also honour .gitignore files (.pcpignore files are always honoured)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l safe-links -d 'Drop symlinks that point outside the tree'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s i -l itemize-changes -d 'Output a change summary for every updated item (rsync\'s format)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s h -l human-readable -d 'Output numbers in a human-readable format (K, M, G; -hh: powers of 1024). As in rsync, `-h` alone prints the help'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l help -d 'Print help (`-h` alone too)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s P -d 'Same as --partial --progress (pcp always keeps partial data for resume)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l partial -d 'Keep partially transferred data (always on in pcp; accepted for rsync compatibility)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s z -l compress -d 'Compress chunk data on the wire (default: adaptive, on for network transfers)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-compress -d 'Never compress chunk data'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-fsync -d 'Skip syncing files to disk before renaming them into place (faster; a power loss may lose recent files)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l fsync -d 'Accepted for rsync scripts: pcp already makes each batch of files durable before it renames them into place (unless --no-fsync; the last of the two wins)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l verify -d 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-remember -d 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-mdns -d 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l no-rendezvous -d 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l relay-only -d 'Meet the peer only through the rendezvous\' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other\'s address'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s v -l verbose -d 'Increase verbosity (list changed names)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -s q -l quiet -d 'Suppress non-error messages'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l progress -d 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l json -d 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
complete -c pcp -n "__fish_pcp_using_subcommand sync" -l stats -d 'Print transfer statistics at the end'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -s l -d 'Limit the bandwidth to LIMIT Kbit/s (scp -l; --bwlimit takes bytes)' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l bwlimit -d 'Limit chunk data to RATE per second (KiB by default; suffixes K, M, G; 0 = no limit; also `bwlimit` in config.toml)' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l wait-lock -d 'When another pcp run is writing into the same destination, wait up to SECONDS for it (default 0: fail at once, exit 35)' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l addr -d 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l code-file -d 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)' -r -F
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l retries -d 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l timeout -d 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l rendezvous -d 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l as -d 'The name this machine offers the peer to remember it by (default: the hostname)' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l congestion -d 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION' -r -f -a "bbr\t'Model-based (delivery rate and minimum RTT): holds throughput under random loss'
cubic\t'Loss-based: halves its window on every loss'"
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l info -d 'rsync\'s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing' -r
complete -c pcp -n "__fish_pcp_using_subcommand cp" -s r -l recursive -d 'Copy directories recursively'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -s p -l preserve -d 'Preserve modification times (permissions are always preserved, like scp)'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -s C -l compress -d 'Compress (scp -C): pcp already compresses over the network where it pays (zstd); on a local copy it changes nothing'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -s B -l batch -d 'Batch mode (scp -B): never ask; the code must come from PCP_CODE or --code-file, or the peer be paired'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l no-fsync -d 'Skip syncing files to disk before renaming them into place'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l verify -d 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l no-remember -d 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l no-mdns -d 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l no-rendezvous -d 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l relay-only -d 'Meet the peer only through the rendezvous\' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other\'s address'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -s v -l verbose -d 'Increase verbosity (list changed names)'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -s q -l quiet -d 'Suppress non-error messages'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l progress -d 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l json -d 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -l stats -d 'Print transfer statistics at the end'
complete -c pcp -n "__fish_pcp_using_subcommand cp" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pcp -n "__fish_pcp_using_subcommand send" -l listen -d 'Listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)' -r
complete -c pcp -n "__fish_pcp_using_subcommand send" -l rendezvous -d 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file' -r
complete -c pcp -n "__fish_pcp_using_subcommand send" -l congestion -d 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION' -r -f -a "bbr\t'Model-based (delivery rate and minimum RTT): holds throughput under random loss'
cubic\t'Loss-based: halves its window on every loss'"
complete -c pcp -n "__fish_pcp_using_subcommand send" -l info -d 'rsync\'s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing' -r
complete -c pcp -n "__fish_pcp_using_subcommand send" -s y -l yes -d 'Ask nothing (for scripts; `pcp send` has no question today, the receiver confirms)'
complete -c pcp -n "__fish_pcp_using_subcommand send" -l no-mdns -d 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
complete -c pcp -n "__fish_pcp_using_subcommand send" -l no-rendezvous -d 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
complete -c pcp -n "__fish_pcp_using_subcommand send" -l relay-only -d 'Meet the peer only through the rendezvous\' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other\'s address'
complete -c pcp -n "__fish_pcp_using_subcommand send" -s v -l verbose -d 'Increase verbosity (list changed names)'
complete -c pcp -n "__fish_pcp_using_subcommand send" -s q -l quiet -d 'Suppress non-error messages'
complete -c pcp -n "__fish_pcp_using_subcommand send" -l progress -d 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
complete -c pcp -n "__fish_pcp_using_subcommand send" -l json -d 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
complete -c pcp -n "__fish_pcp_using_subcommand send" -l stats -d 'Print transfer statistics at the end'
complete -c pcp -n "__fish_pcp_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l addr -d 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery' -r
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l code-file -d 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)' -r -F
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l retries -d 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)' -r
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l timeout -d 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that' -r
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l rendezvous -d 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file' -r
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l as -d 'The name this machine offers the peer to remember it by (default: the hostname)' -r
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l congestion -d 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION' -r -f -a "bbr\t'Model-based (delivery rate and minimum RTT): holds throughput under random loss'
cubic\t'Loss-based: halves its window on every loss'"
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l info -d 'rsync\'s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing' -r
complete -c pcp -n "__fish_pcp_using_subcommand receive" -s y -l yes -d 'Accept the offer without asking'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l verify -d 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l no-remember -d 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l no-mdns -d 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l no-rendezvous -d 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l relay-only -d 'Meet the peer only through the rendezvous\' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other\'s address'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l no-fsync -d 'Skip fsync before renaming files into place'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -s v -l verbose -d 'Increase verbosity (list changed names)'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -s q -l quiet -d 'Suppress non-error messages'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l progress -d 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l json -d 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -l stats -d 'Print transfer statistics at the end'
complete -c pcp -n "__fish_pcp_using_subcommand receive" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l listen -d 'Listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)' -r
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l rendezvous -d 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file' -r
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l congestion -d 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION' -r -f -a "bbr\t'Model-based (delivery rate and minimum RTT): holds throughput under random loss'
cubic\t'Loss-based: halves its window on every loss'"
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l info -d 'rsync\'s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing' -r
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l once -d 'Exit after one session'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l read-only -d 'Refuse pushes: peers may only read (sync/cp from this peer, ls)'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l no-code -d 'Take no codes: print none and refuse new peers; only paired peers may connect'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l no-mdns -d 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l no-rendezvous -d 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l relay-only -d 'Meet the peer only through the rendezvous\' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other\'s address'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -s v -l verbose -d 'Increase verbosity (list changed names)'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -s q -l quiet -d 'Suppress non-error messages'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l progress -d 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l json -d 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -l stats -d 'Print transfer statistics at the end'
complete -c pcp -n "__fish_pcp_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l addr -d 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery' -r
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l code-file -d 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)' -r -F
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l retries -d 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)' -r
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l timeout -d 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that' -r
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l rendezvous -d 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file' -r
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l as -d 'The name this machine offers the peer to remember it by (default: the hostname)' -r
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l congestion -d 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION' -r -f -a "bbr\t'Model-based (delivery rate and minimum RTT): holds throughput under random loss'
cubic\t'Loss-based: halves its window on every loss'"
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l info -d 'rsync\'s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing' -r
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l verify -d 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l no-remember -d 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l no-mdns -d 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l no-rendezvous -d 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l relay-only -d 'Meet the peer only through the rendezvous\' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other\'s address'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -s v -l verbose -d 'Increase verbosity (list changed names)'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -s q -l quiet -d 'Suppress non-error messages'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l progress -d 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l json -d 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -l stats -d 'Print transfer statistics at the end'
complete -c pcp -n "__fish_pcp_using_subcommand ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l addr -d 'Join: reach the machine that printed the code at HOST:PORT (without --addr, this side hosts: it prints a code and waits for the other)' -r
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l listen -d 'Host: listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)' -r
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l code-file -d 'Join: read the code from the first line of FILE (else PCP_CODE, else a prompt)' -r -F
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l as -d 'Join: the name this machine offers the other to remember it by (default: the hostname)' -r
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l timeout -d 'Give up on a silent peer after SECONDS (1-3600)' -r
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l rendezvous -d 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file' -r
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l info -d 'rsync\'s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing' -r
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l verify -d 'Show the 4 verifier words and ask whether the other side shows the same (join side)'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l no-mdns -d 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l no-rendezvous -d 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l relay-only -d 'Meet the peer only through the rendezvous\' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other\'s address'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -s v -l verbose -d 'Increase verbosity (list changed names)'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -s q -l quiet -d 'Suppress non-error messages'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l progress -d 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l json -d 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -l stats -d 'Print transfer statistics at the end'
complete -c pcp -n "__fish_pcp_using_subcommand pair" -s h -l help -d 'Print help'
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l listen -d 'Listen on ADDR (UDP; HOST:PORT). Peers name it with --rendezvous HOST:PORT or PCP_RENDEZVOUS' -r
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l max-requests -d 'Requests per second one source IP may make (sustained; twice that as a burst); more are answered "rendezvous busy"' -r
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l max-channels -d 'Tokens (waiting peers) registered at once, in all; more are answered "rendezvous busy"' -r
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l max-relays -d 'Relays open at once (one per pair of peers whose NATs no punch gets through; 0: relay nothing); more are answered "rendezvous busy"' -r
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l max-rate -d 'Bytes per second one relay forwards, both ways together (K/M/G suffixes, as --bwlimit; default: no limit)' -r
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l info -d 'rsync\'s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing' -r
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -s v -l verbose -d 'Increase verbosity (list changed names)'
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -s q -l quiet -d 'Suppress non-error messages'
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l progress -d 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l json -d 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -l stats -d 'Print transfer statistics at the end'
complete -c pcp -n "__fish_pcp_using_subcommand rendezvous" -s h -l help -d 'Print help'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and not __fish_seen_subcommand_from list rename forget help" -s h -l help -d 'Print help'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and not __fish_seen_subcommand_from list rename forget help" -f -a "list" -d 'Name, key fingerprint, paired and last seen, last address of every paired peer'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and not __fish_seen_subcommand_from list rename forget help" -f -a "rename" -d 'Call a paired peer NEW from now on (`NEW:path`)'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and not __fish_seen_subcommand_from list rename forget help" -f -a "forget" -d 'End the pairing from this side: the peer\'s key is refused from now on, and using its name needs a code again'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and not __fish_seen_subcommand_from list rename forget help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and __fish_seen_subcommand_from list" -l json -d 'One JSON object per peer on stdout'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and __fish_seen_subcommand_from rename" -s h -l help -d 'Print help'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and __fish_seen_subcommand_from forget" -s h -l help -d 'Print help'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and __fish_seen_subcommand_from help" -f -a "list" -d 'Name, key fingerprint, paired and last seen, last address of every paired peer'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and __fish_seen_subcommand_from help" -f -a "rename" -d 'Call a paired peer NEW from now on (`NEW:path`)'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and __fish_seen_subcommand_from help" -f -a "forget" -d 'End the pairing from this side: the peer\'s key is refused from now on, and using its name needs a code again'
complete -c pcp -n "__fish_pcp_using_subcommand peers; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pcp -n "__fish_pcp_using_subcommand completions" -s h -l help -d 'Print help'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "sync" -d 'rsync-like sync of SRC... into DEST (`dir/` means the contents of dir, `dir` the dir itself)'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "cp" -d 'scp-like one-shot copy: -r for directories, overwrites, never deletes'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "send" -d 'One-shot: print a code, send PATH... to whoever enters it, exit'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "receive" -d 'One-shot: ask for the code, show what is offered, confirm, receive into DEST'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "serve" -d 'Answer sync/cp/ls for DIR: paired peers with no code, new ones with the one-time code it prints (or PCP_CODE; --no-code: none)'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "ls" -d 'List a peer\'s files, like rsync --list-only'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "pair" -d 'Pair two machines with a code, once: one hosts (prints `Code: ...`), the other joins with --addr and the code; later sync/cp/ls between them need no code'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "rendezvous" -d 'Run a rendezvous server (self-hosted): peers with no address meet through it, by a code\'s public channel word or a pairing\'s daily token; it never sees a secret or a file'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "peers" -d 'Paired peers (remembered after a first contact with a code): list, rename, forget'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c pcp -n "__fish_pcp_using_subcommand help; and not __fish_seen_subcommand_from sync cp send receive serve ls pair rendezvous peers completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pcp -n "__fish_pcp_using_subcommand help; and __fish_seen_subcommand_from peers" -f -a "list" -d 'Name, key fingerprint, paired and last seen, last address of every paired peer'
complete -c pcp -n "__fish_pcp_using_subcommand help; and __fish_seen_subcommand_from peers" -f -a "rename" -d 'Call a paired peer NEW from now on (`NEW:path`)'
complete -c pcp -n "__fish_pcp_using_subcommand help; and __fish_seen_subcommand_from peers" -f -a "forget" -d 'End the pairing from this side: the peer\'s key is refused from now on, and using its name needs a code again'
