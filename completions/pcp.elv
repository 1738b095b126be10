
use builtin;
use str;

set edit:completion:arg-completer[pcp] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'pcp'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'pcp'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand sync 'rsync-like sync of SRC... into DEST (`dir/` means the contents of dir, `dir` the dir itself)'
            cand cp 'scp-like one-shot copy: -r for directories, overwrites, never deletes'
            cand send 'One-shot: print a code, send PATH... to whoever enters it, exit'
            cand receive 'One-shot: ask for the code, show what is offered, confirm, receive into DEST'
            cand serve 'Answer sync/cp/ls for DIR: paired peers with no code, new ones with the one-time code it prints (or PCP_CODE; --no-code: none)'
            cand ls 'List a peer''s files, like rsync --list-only'
            cand pair 'Pair two machines with a code, once: one hosts (prints `Code: ...`), the other joins with --addr and the code; later sync/cp/ls between them need no code'
            cand rendezvous 'Run a rendezvous server (self-hosted): peers with no address meet through it, by a code''s public channel word or a pairing''s daily token; it never sees a secret or a file'
            cand peers 'Paired peers (remembered after a first contact with a code): list, rename, forget'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'pcp;sync'= {
            cand --max-size 'Do not transfer any file larger than SIZE (as rsync: 500, 1.5m, 2G, 1kb = 1000, 1k = 1024, a trailing +1 or -1 adds or takes a byte). Such files are kept where they are, not deleted'
            cand --backup-dir 'Backups go into DIR (relative to the destination, or absolute; on a peer it must stay inside the served directory), at the same relative path; implies --backup'
            cand --suffix 'Backup suffix (default ~, or none with --backup-dir)'
            cand --chmod 'Change the permissions the source sent, as chmod(1) does (rsync''s syntax: D755,F644 or u+rwX,go-w; D: directories only, F: the rest); with -p they apply to every entry, without it to new ones'
            cand --min-size 'Do not transfer any file smaller than SIZE (see --max-size)'
            cand -@ 'Mtimes at most NUM seconds apart are the same (compared in whole seconds, as rsync''s default 0; 1 for FAT). Without it, or negative, pcp compares to the nanosecond'
            cand --modify-window 'Mtimes at most NUM seconds apart are the same (compared in whole seconds, as rsync''s default 0; 1 for FAT). Without it, or negative, pcp compares to the nanosecond'
            cand --max-delete 'Delete at most N files'
            cand --exclude 'Exclude files matching PATTERN (gitignore syntax; first matching rule wins)'
            cand --include 'Include files matching PATTERN (wins over later excludes)'
            cand --exclude-from 'Read exclude patterns from FILE (''-'' for stdin)'
            cand --include-from 'Read include patterns from FILE (''-'' for stdin): they come after --include and before the excludes (`--include-from=list --exclude=''*''` copies what the list names)'
            cand -f 'A filter rule: ''- PATTERN'' or ''+ PATTERN'''
            cand --filter 'A filter rule: ''- PATTERN'' or ''+ PATTERN'''
            cand --bwlimit 'Limit chunk data to RATE per second (KiB by default; suffixes K, M, G; 0 = no limit; also `bwlimit` in config.toml)'
            cand --wait-lock 'When another pcp run is writing into the same destination, wait up to SECONDS for it (default 0: fail at once, exit 35)'
            cand --manifest 'Use this manifest database for the destination instead of the one under the state dir'
            cand --addr 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery'
            cand --code-file 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)'
            cand --retries 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)'
            cand --timeout 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that'
            cand --rendezvous 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file'
            cand --as 'The name this machine offers the peer to remember it by (default: the hostname)'
            cand --congestion 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION'
            cand --info 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing'
            cand -a 'Archive mode: -rlpt (pcp does not copy owners, groups or devices)'
            cand --archive 'Archive mode: -rlpt (pcp does not copy owners, groups or devices)'
            cand -u 'Skip files that are newer on the destination (a strictly later mtime)'
            cand --update 'Skip files that are newer on the destination (a strictly later mtime)'
            cand --ignore-existing 'Skip updating anything that already exists on the destination (new files only)'
            cand --existing 'Skip creating anything new on the destination: only what exists there is updated'
            cand --ignore-non-existing 'Skip creating anything new on the destination: only what exists there is updated'
            cand --size-only 'The quick check compares sizes only, not mtimes'
            cand -b 'Keep what is replaced or deleted: renamed FILE~ beside it (--suffix), or moved into --backup-dir. Crash-safe: the old version is kept before the new one is renamed in'
            cand --backup 'Keep what is replaced or deleted: renamed FILE~ beside it (--suffix), or moved into --backup-dir. Crash-safe: the old version is kept before the new one is renamed in'
            cand -m 'Prune empty directory chains: a directory with no file or link beneath it (after the filters) is not copied'
            cand --prune-empty-dirs 'Prune empty directory chains: a directory with no file or link beneath it (after the filters) is not copied'
            cand -x 'Do not cross file-system boundaries: a mount point is copied as an empty directory'
            cand --one-file-system 'Do not cross file-system boundaries: a mount point is copied as an empty directory'
            cand -I 'No quick check: compare every file, even when size and mtime match'
            cand --ignore-times 'No quick check: compare every file, even when size and mtime match'
            cand -r 'Recurse into directories'
            cand --recursive 'Recurse into directories'
            cand --no-recursive 'Do not recurse, even with -a (rsync''s --no-OPTION: the last of the two wins)'
            cand --no-r 'Do not recurse, even with -a (rsync''s --no-OPTION: the last of the two wins)'
            cand --no-inc-recursive 'Accepted for rsync scripts (`--info=progress2 --no-inc-recursive`): pcp always streams its file list, so there is no incremental recursion to turn off'
            cand --no-i-r 'Accepted for rsync scripts (`--info=progress2 --no-inc-recursive`): pcp always streams its file list, so there is no incremental recursion to turn off'
            cand --mkpath 'Create the destination''s missing parent directories too (without it, as rsync, only the last component is created, and a missing parent is an error, exit 11)'
            cand -l 'Copy symlinks as symlinks'
            cand --links 'Copy symlinks as symlinks'
            cand --no-links 'Do not copy symlinks, even with -a'
            cand --no-l 'Do not copy symlinks, even with -a'
            cand -p 'Preserve permissions'
            cand --perms 'Preserve permissions'
            cand --no-perms 'Do not preserve permissions, even with -a'
            cand --no-p 'Do not preserve permissions, even with -a'
            cand -t 'Preserve modification times'
            cand --times 'Preserve modification times'
            cand --no-times 'Do not preserve modification times, even with -a'
            cand --no-t 'Do not preserve modification times, even with -a'
            cand -W 'Accepted for rsync scripts and ignored: pcp''s chunks already send whole files when nothing matches and only changed chunks otherwise'
            cand --whole-file 'Accepted for rsync scripts and ignored: pcp''s chunks already send whole files when nothing matches and only changed chunks otherwise'
            cand -O 'Leave directories'' mtimes alone (files'' are still kept with -t)'
            cand --omit-dir-times 'Leave directories'' mtimes alone (files'' are still kept with -t)'
            cand -n 'Show what would change; change nothing'
            cand --dry-run 'Show what would change; change nothing'
            cand -c 'Compare file content, not size and modification time'
            cand --checksum 'Compare file content, not size and modification time'
            cand --delete 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)'
            cand --delete-after 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)'
            cand --delete-before 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)'
            cand --delete-during 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)'
            cand --delete-delay 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)'
            cand --del 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)'
            cand --delete-excluded 'Also delete files in DEST that the filters exclude (implies --delete)'
            cand --force 'Accepted for rsync scripts: pcp''s --delete already replaces a non-empty directory by a file and back'
            cand --gitignore 'Also honour .gitignore files (.pcpignore files are always honoured)'
            cand --safe-links 'Drop symlinks that point outside the tree'
            cand -i 'Output a change summary for every updated item (rsync''s format)'
            cand --itemize-changes 'Output a change summary for every updated item (rsync''s format)'
            cand -h 'Output numbers in a human-readable format (K, M, G; -hh: powers of 1024). As in rsync, `-h` alone prints the help'
            cand --human-readable 'Output numbers in a human-readable format (K, M, G; -hh: powers of 1024). As in rsync, `-h` alone prints the help'
            cand --help 'Print help (`-h` alone too)'
            cand -P 'Same as --partial --progress (pcp always keeps partial data for resume)'
            cand --partial 'Keep partially transferred data (always on in pcp; accepted for rsync compatibility)'
            cand -z 'Compress chunk data on the wire (default: adaptive, on for network transfers)'
            cand --compress 'Compress chunk data on the wire (default: adaptive, on for network transfers)'
            cand --no-compress 'Never compress chunk data'
            cand --no-fsync 'Skip syncing files to disk before renaming them into place (faster; a power loss may lose recent files)'
            cand --fsync 'Accepted for rsync scripts: pcp already makes each batch of files durable before it renames them into place (unless --no-fsync; the last of the two wins)'
            cand --verify 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)'
            cand --no-remember 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)'
            cand --no-mdns 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
            cand --no-rendezvous 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
            cand --relay-only 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address'
            cand -v 'Increase verbosity (list changed names)'
            cand --verbose 'Increase verbosity (list changed names)'
            cand -q 'Suppress non-error messages'
            cand --quiet 'Suppress non-error messages'
            cand --progress 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
            cand --json 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
            cand --stats 'Print transfer statistics at the end'
        }
        &'pcp;cp'= {
            cand -l 'Limit the bandwidth to LIMIT Kbit/s (scp -l; --bwlimit takes bytes)'
            cand --bwlimit 'Limit chunk data to RATE per second (KiB by default; suffixes K, M, G; 0 = no limit; also `bwlimit` in config.toml)'
            cand --wait-lock 'When another pcp run is writing into the same destination, wait up to SECONDS for it (default 0: fail at once, exit 35)'
            cand --addr 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery'
            cand --code-file 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)'
            cand --retries 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)'
            cand --timeout 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that'
            cand --rendezvous 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file'
            cand --as 'The name this machine offers the peer to remember it by (default: the hostname)'
            cand --congestion 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION'
            cand --info 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing'
            cand -r 'Copy directories recursively'
            cand --recursive 'Copy directories recursively'
            cand -p 'Preserve modification times (permissions are always preserved, like scp)'
            cand --preserve 'Preserve modification times (permissions are always preserved, like scp)'
            cand -C 'Compress (scp -C): pcp already compresses over the network where it pays (zstd); on a local copy it changes nothing'
            cand --compress 'Compress (scp -C): pcp already compresses over the network where it pays (zstd); on a local copy it changes nothing'
            cand -B 'Batch mode (scp -B): never ask; the code must come from PCP_CODE or --code-file, or the peer be paired'
            cand --batch 'Batch mode (scp -B): never ask; the code must come from PCP_CODE or --code-file, or the peer be paired'
            cand --no-fsync 'Skip syncing files to disk before renaming them into place'
            cand --verify 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)'
            cand --no-remember 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)'
            cand --no-mdns 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
            cand --no-rendezvous 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
            cand --relay-only 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address'
            cand -v 'Increase verbosity (list changed names)'
            cand --verbose 'Increase verbosity (list changed names)'
            cand -q 'Suppress non-error messages'
            cand --quiet 'Suppress non-error messages'
            cand --progress 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
            cand --json 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
            cand --stats 'Print transfer statistics at the end'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'pcp;send'= {
            cand --listen 'Listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)'
            cand --rendezvous 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file'
            cand --congestion 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION'
            cand --info 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing'
            cand -y 'Ask nothing (for scripts; `pcp send` has no question today, the receiver confirms)'
            cand --yes 'Ask nothing (for scripts; `pcp send` has no question today, the receiver confirms)'
            cand --no-mdns 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
            cand --no-rendezvous 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
            cand --relay-only 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address'
            cand -v 'Increase verbosity (list changed names)'
            cand --verbose 'Increase verbosity (list changed names)'
            cand -q 'Suppress non-error messages'
            cand --quiet 'Suppress non-error messages'
            cand --progress 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
            cand --json 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
            cand --stats 'Print transfer statistics at the end'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'pcp;receive'= {
            cand --addr 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery'
            cand --code-file 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)'
            cand --retries 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)'
            cand --timeout 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that'
            cand --rendezvous 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file'
            cand --as 'The name this machine offers the peer to remember it by (default: the hostname)'
            cand --congestion 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION'
            cand --info 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing'
            cand -y 'Accept the offer without asking'
            cand --yes 'Accept the offer without asking'
            cand --verify 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)'
            cand --no-remember 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)'
            cand --no-mdns 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
            cand --no-rendezvous 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
            cand --relay-only 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address'
            cand --no-fsync 'Skip fsync before renaming files into place'
            cand -v 'Increase verbosity (list changed names)'
            cand --verbose 'Increase verbosity (list changed names)'
            cand -q 'Suppress non-error messages'
            cand --quiet 'Suppress non-error messages'
            cand --progress 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
            cand --json 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
            cand --stats 'Print transfer statistics at the end'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'pcp;serve'= {
            cand --listen 'Listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)'
            cand --rendezvous 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file'
            cand --congestion 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION'
            cand --info 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing'
            cand --once 'Exit after one session'
            cand --read-only 'Refuse pushes: peers may only read (sync/cp from this peer, ls)'
            cand --no-code 'Take no codes: print none and refuse new peers; only paired peers may connect'
            cand --no-mdns 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
            cand --no-rendezvous 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
            cand --relay-only 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address'
            cand -v 'Increase verbosity (list changed names)'
            cand --verbose 'Increase verbosity (list changed names)'
            cand -q 'Suppress non-error messages'
            cand --quiet 'Suppress non-error messages'
            cand --progress 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
            cand --json 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
            cand --stats 'Print transfer statistics at the end'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'pcp;ls'= {
            cand --addr 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery'
            cand --code-file 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)'
            cand --retries 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)'
            cand --timeout 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that'
            cand --rendezvous 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file'
            cand --as 'The name this machine offers the peer to remember it by (default: the hostname)'
            cand --congestion 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION'
            cand --info 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing'
            cand --verify 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)'
            cand --no-remember 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)'
            cand --no-mdns 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
            cand --no-rendezvous 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
            cand --relay-only 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address'
            cand -v 'Increase verbosity (list changed names)'
            cand --verbose 'Increase verbosity (list changed names)'
            cand -q 'Suppress non-error messages'
            cand --quiet 'Suppress non-error messages'
            cand --progress 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
            cand --json 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
            cand --stats 'Print transfer statistics at the end'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'pcp;pair'= {
            cand --addr 'Join: reach the machine that printed the code at HOST:PORT (without --addr, this side hosts: it prints a code and waits for the other)'
            cand --listen 'Host: listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)'
            cand --code-file 'Join: read the code from the first line of FILE (else PCP_CODE, else a prompt)'
            cand --as 'Join: the name this machine offers the other to remember it by (default: the hostname)'
            cand --timeout 'Give up on a silent peer after SECONDS (1-3600)'
            cand --rendezvous 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file'
            cand --info 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing'
            cand --verify 'Show the 4 verifier words and ask whether the other side shows the same (join side)'
            cand --no-mdns 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1'
            cand --no-rendezvous 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml'
            cand --relay-only 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address'
            cand -v 'Increase verbosity (list changed names)'
            cand --verbose 'Increase verbosity (list changed names)'
            cand -q 'Suppress non-error messages'
            cand --quiet 'Suppress non-error messages'
            cand --progress 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
            cand --json 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
            cand --stats 'Print transfer statistics at the end'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'pcp;rendezvous'= {
            cand --listen 'Listen on ADDR (UDP; HOST:PORT). Peers name it with --rendezvous HOST:PORT or PCP_RENDEZVOUS'
            cand --max-requests 'Requests per second one source IP may make (sustained; twice that as a burst); more are answered "rendezvous busy"'
            cand --max-channels 'Tokens (waiting peers) registered at once, in all; more are answered "rendezvous busy"'
            cand --max-relays 'Relays open at once (one per pair of peers whose NATs no punch gets through; 0: relay nothing); more are answered "rendezvous busy"'
            cand --max-rate 'Bytes per second one relay forwards, both ways together (K/M/G suffixes, as --bwlimit; default: no limit)'
            cand --info 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing'
            cand -v 'Increase verbosity (list changed names)'
            cand --verbose 'Increase verbosity (list changed names)'
            cand -q 'Suppress non-error messages'
            cand --quiet 'Suppress non-error messages'
            cand --progress 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal'
            cand --json 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)'
            cand --stats 'Print transfer statistics at the end'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'pcp;peers'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'Name, key fingerprint, paired and last seen, last address of every paired peer'
            cand rename 'Call a paired peer NEW from now on (`NEW:path`)'
            cand forget 'End the pairing from this side: the peer''s key is refused from now on, and using its name needs a code again'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'pcp;peers;list'= {
            cand --json 'One JSON object per peer on stdout'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'pcp;peers;rename'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'pcp;peers;forget'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'pcp;peers;help'= {
            cand list 'Name, key fingerprint, paired and last seen, last address of every paired peer'
            cand rename 'Call a paired peer NEW from now on (`NEW:path`)'
            cand forget 'End the pairing from this side: the peer''s key is refused from now on, and using its name needs a code again'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'pcp;peers;help;list'= {
        }
        &'pcp;peers;help;rename'= {
        }
        &'pcp;peers;help;forget'= {
        }
        &'pcp;peers;help;help'= {
        }
        &'pcp;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'pcp;help'= {
            cand sync 'rsync-like sync of SRC... into DEST (`dir/` means the contents of dir, `dir` the dir itself)'
            cand cp 'scp-like one-shot copy: -r for directories, overwrites, never deletes'
            cand send 'One-shot: print a code, send PATH... to whoever enters it, exit'
            cand receive 'One-shot: ask for the code, show what is offered, confirm, receive into DEST'
            cand serve 'Answer sync/cp/ls for DIR: paired peers with no code, new ones with the one-time code it prints (or PCP_CODE; --no-code: none)'
            cand ls 'List a peer''s files, like rsync --list-only'
            cand pair 'Pair two machines with a code, once: one hosts (prints `Code: ...`), the other joins with --addr and the code; later sync/cp/ls between them need no code'
            cand rendezvous 'Run a rendezvous server (self-hosted): peers with no address meet through it, by a code''s public channel word or a pairing''s daily token; it never sees a secret or a file'
            cand peers 'Paired peers (remembered after a first contact with a code): list, rename, forget'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'pcp;help;sync'= {
        }
        &'pcp;help;cp'= {
        }
        &'pcp;help;send'= {
        }
        &'pcp;help;receive'= {
        }
        &'pcp;help;serve'= {
        }
        &'pcp;help;ls'= {
        }
        &'pcp;help;pair'= {
        }
        &'pcp;help;rendezvous'= {
        }
        &'pcp;help;peers'= {
            cand list 'Name, key fingerprint, paired and last seen, last address of every paired peer'
            cand rename 'Call a paired peer NEW from now on (`NEW:path`)'
            cand forget 'End the pairing from this side: the peer''s key is refused from now on, and using its name needs a code again'
        }
        &'pcp;help;peers;list'= {
        }
        &'pcp;help;peers;rename'= {
        }
        &'pcp;help;peers;forget'= {
        }
        &'pcp;help;completions'= {
        }
        &'pcp;help;help'= {
        }
    ]
    $completions[$command]
}
