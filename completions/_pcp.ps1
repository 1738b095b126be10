
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'pcp' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'pcp'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'pcp' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'rsync-like sync of SRC... into DEST (`dir/` means the contents of dir, `dir` the dir itself)')
            [CompletionResult]::new('cp', 'cp', [CompletionResultType]::ParameterValue, 'scp-like one-shot copy: -r for directories, overwrites, never deletes')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'One-shot: print a code, send PATH... to whoever enters it, exit')
            [CompletionResult]::new('receive', 'receive', [CompletionResultType]::ParameterValue, 'One-shot: ask for the code, show what is offered, confirm, receive into DEST')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Answer sync/cp/ls for DIR: paired peers with no code, new ones with the one-time code it prints (or PCP_CODE; --no-code: none)')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List a peer''s files, like rsync --list-only')
            [CompletionResult]::new('pair', 'pair', [CompletionResultType]::ParameterValue, 'Pair two machines with a code, once: one hosts (prints `Code: ...`), the other joins with --addr and the code; later sync/cp/ls between them need no code')
            [CompletionResult]::new('rendezvous', 'rendezvous', [CompletionResultType]::ParameterValue, 'Run a rendezvous server (self-hosted): peers with no address meet through it, by a code''s public channel word or a pairing''s daily token; it never sees a secret or a file')
            [CompletionResult]::new('peers', 'peers', [CompletionResultType]::ParameterValue, 'Paired peers (remembered after a first contact with a code): list, rename, forget')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'pcp;sync' {
            [CompletionResult]::new('--max-size', '--max-size', [CompletionResultType]::ParameterName, 'Do not transfer any file larger than SIZE (as rsync: 500, 1.5m, 2G, 1kb = 1000, 1k = 1024, a trailing +1 or -1 adds or takes a byte). Such files are kept where they are, not deleted')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Backups go into DIR (relative to the destination, or absolute; on a peer it must stay inside the served directory), at the same relative path; implies --backup')
            [CompletionResult]::new('--suffix', '--suffix', [CompletionResultType]::ParameterName, 'Backup suffix (default ~, or none with --backup-dir)')
            [CompletionResult]::new('--chmod', '--chmod', [CompletionResultType]::ParameterName, 'Change the permissions the source sent, as chmod(1) does (rsync''s syntax: D755,F644 or u+rwX,go-w; D: directories only, F: the rest); with -p they apply to every entry, without it to new ones')
            [CompletionResult]::new('--min-size', '--min-size', [CompletionResultType]::ParameterName, 'Do not transfer any file smaller than SIZE (see --max-size)')
            [CompletionResult]::new('-@', '-@', [CompletionResultType]::ParameterName, 'Mtimes at most NUM seconds apart are the same (compared in whole seconds, as rsync''s default 0; 1 for FAT). Without it, or negative, pcp compares to the nanosecond')
            [CompletionResult]::new('--modify-window', '--modify-window', [CompletionResultType]::ParameterName, 'Mtimes at most NUM seconds apart are the same (compared in whole seconds, as rsync''s default 0; 1 for FAT). Without it, or negative, pcp compares to the nanosecond')
            [CompletionResult]::new('--max-delete', '--max-delete', [CompletionResultType]::ParameterName, 'Delete at most N files')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'Exclude files matching PATTERN (gitignore syntax; first matching rule wins)')
            [CompletionResult]::new('--include', '--include', [CompletionResultType]::ParameterName, 'Include files matching PATTERN (wins over later excludes)')
            [CompletionResult]::new('--exclude-from', '--exclude-from', [CompletionResultType]::ParameterName, 'Read exclude patterns from FILE (''-'' for stdin)')
            [CompletionResult]::new('--include-from', '--include-from', [CompletionResultType]::ParameterName, 'Read include patterns from FILE (''-'' for stdin): they come after --include and before the excludes (`--include-from=list --exclude=''*''` copies what the list names)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'A filter rule: ''- PATTERN'' or ''+ PATTERN''')
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'A filter rule: ''- PATTERN'' or ''+ PATTERN''')
            [CompletionResult]::new('--bwlimit', '--bwlimit', [CompletionResultType]::ParameterName, 'Limit chunk data to RATE per second (KiB by default; suffixes K, M, G; 0 = no limit; also `bwlimit` in config.toml)')
            [CompletionResult]::new('--wait-lock', '--wait-lock', [CompletionResultType]::ParameterName, 'When another pcp run is writing into the same destination, wait up to SECONDS for it (default 0: fail at once, exit 35)')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'Use this manifest database for the destination instead of the one under the state dir')
            [CompletionResult]::new('--addr', '--addr', [CompletionResultType]::ParameterName, 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery')
            [CompletionResult]::new('--code-file', '--code-file', [CompletionResultType]::ParameterName, 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that')
            [CompletionResult]::new('--rendezvous', '--rendezvous', [CompletionResultType]::ParameterName, 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'The name this machine offers the peer to remember it by (default: the hostname)')
            [CompletionResult]::new('--congestion', '--congestion', [CompletionResultType]::ParameterName, 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION')
            [CompletionResult]::new('--info', '--info', [CompletionResultType]::ParameterName, 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Archive mode: -rlpt (pcp does not copy owners, groups or devices)')
            [CompletionResult]::new('--archive', '--archive', [CompletionResultType]::ParameterName, 'Archive mode: -rlpt (pcp does not copy owners, groups or devices)')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Skip files that are newer on the destination (a strictly later mtime)')
            [CompletionResult]::new('--update', '--update', [CompletionResultType]::ParameterName, 'Skip files that are newer on the destination (a strictly later mtime)')
            [CompletionResult]::new('--ignore-existing', '--ignore-existing', [CompletionResultType]::ParameterName, 'Skip updating anything that already exists on the destination (new files only)')
            [CompletionResult]::new('--existing', '--existing', [CompletionResultType]::ParameterName, 'Skip creating anything new on the destination: only what exists there is updated')
            [CompletionResult]::new('--ignore-non-existing', '--ignore-non-existing', [CompletionResultType]::ParameterName, 'Skip creating anything new on the destination: only what exists there is updated')
            [CompletionResult]::new('--size-only', '--size-only', [CompletionResultType]::ParameterName, 'The quick check compares sizes only, not mtimes')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Keep what is replaced or deleted: renamed FILE~ beside it (--suffix), or moved into --backup-dir. Crash-safe: the old version is kept before the new one is renamed in')
            [CompletionResult]::new('--backup', '--backup', [CompletionResultType]::ParameterName, 'Keep what is replaced or deleted: renamed FILE~ beside it (--suffix), or moved into --backup-dir. Crash-safe: the old version is kept before the new one is renamed in')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Prune empty directory chains: a directory with no file or link beneath it (after the filters) is not copied')
            [CompletionResult]::new('--prune-empty-dirs', '--prune-empty-dirs', [CompletionResultType]::ParameterName, 'Prune empty directory chains: a directory with no file or link beneath it (after the filters) is not copied')
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'Do not cross file-system boundaries: a mount point is copied as an empty directory')
            [CompletionResult]::new('--one-file-system', '--one-file-system', [CompletionResultType]::ParameterName, 'Do not cross file-system boundaries: a mount point is copied as an empty directory')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'No quick check: compare every file, even when size and mtime match')
            [CompletionResult]::new('--ignore-times', '--ignore-times', [CompletionResultType]::ParameterName, 'No quick check: compare every file, even when size and mtime match')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Recurse into directories')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Recurse into directories')
            [CompletionResult]::new('--no-recursive', '--no-recursive', [CompletionResultType]::ParameterName, 'Do not recurse, even with -a (rsync''s --no-OPTION: the last of the two wins)')
            [CompletionResult]::new('--no-r', '--no-r', [CompletionResultType]::ParameterName, 'Do not recurse, even with -a (rsync''s --no-OPTION: the last of the two wins)')
            [CompletionResult]::new('--no-inc-recursive', '--no-inc-recursive', [CompletionResultType]::ParameterName, 'Accepted for rsync scripts (`--info=progress2 --no-inc-recursive`): pcp always streams its file list, so there is no incremental recursion to turn off')
            [CompletionResult]::new('--no-i-r', '--no-i-r', [CompletionResultType]::ParameterName, 'Accepted for rsync scripts (`--info=progress2 --no-inc-recursive`): pcp always streams its file list, so there is no incremental recursion to turn off')
            [CompletionResult]::new('--mkpath', '--mkpath', [CompletionResultType]::ParameterName, 'Create the destination''s missing parent directories too (without it, as rsync, only the last component is created, and a missing parent is an error, exit 11)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Copy symlinks as symlinks')
            [CompletionResult]::new('--links', '--links', [CompletionResultType]::ParameterName, 'Copy symlinks as symlinks')
            [CompletionResult]::new('--no-links', '--no-links', [CompletionResultType]::ParameterName, 'Do not copy symlinks, even with -a')
            [CompletionResult]::new('--no-l', '--no-l', [CompletionResultType]::ParameterName, 'Do not copy symlinks, even with -a')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Preserve permissions')
            [CompletionResult]::new('--perms', '--perms', [CompletionResultType]::ParameterName, 'Preserve permissions')
            [CompletionResult]::new('--no-perms', '--no-perms', [CompletionResultType]::ParameterName, 'Do not preserve permissions, even with -a')
            [CompletionResult]::new('--no-p', '--no-p', [CompletionResultType]::ParameterName, 'Do not preserve permissions, even with -a')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Preserve modification times')
            [CompletionResult]::new('--times', '--times', [CompletionResultType]::ParameterName, 'Preserve modification times')
            [CompletionResult]::new('--no-times', '--no-times', [CompletionResultType]::ParameterName, 'Do not preserve modification times, even with -a')
            [CompletionResult]::new('--no-t', '--no-t', [CompletionResultType]::ParameterName, 'Do not preserve modification times, even with -a')
            [CompletionResult]::new('-W', '-W ', [CompletionResultType]::ParameterName, 'Accepted for rsync scripts and ignored: pcp''s chunks already send whole files when nothing matches and only changed chunks otherwise')
            [CompletionResult]::new('--whole-file', '--whole-file', [CompletionResultType]::ParameterName, 'Accepted for rsync scripts and ignored: pcp''s chunks already send whole files when nothing matches and only changed chunks otherwise')
            [CompletionResult]::new('-O', '-O ', [CompletionResultType]::ParameterName, 'Leave directories'' mtimes alone (files'' are still kept with -t)')
            [CompletionResult]::new('--omit-dir-times', '--omit-dir-times', [CompletionResultType]::ParameterName, 'Leave directories'' mtimes alone (files'' are still kept with -t)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Show what would change; change nothing')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change; change nothing')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Compare file content, not size and modification time')
            [CompletionResult]::new('--checksum', '--checksum', [CompletionResultType]::ParameterName, 'Compare file content, not size and modification time')
            [CompletionResult]::new('--delete', '--delete', [CompletionResultType]::ParameterName, 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)')
            [CompletionResult]::new('--delete-after', '--delete-after', [CompletionResultType]::ParameterName, 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)')
            [CompletionResult]::new('--delete-before', '--delete-before', [CompletionResultType]::ParameterName, 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)')
            [CompletionResult]::new('--delete-during', '--delete-during', [CompletionResultType]::ParameterName, 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)')
            [CompletionResult]::new('--delete-delay', '--delete-delay', [CompletionResultType]::ParameterName, 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)')
            [CompletionResult]::new('--del', '--del', [CompletionResultType]::ParameterName, 'Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after the transfer, so rsync''s --delete-after, --delete-before, --delete-during (--del) and --delete-delay all mean this (the result is the same; only when space is freed differs)')
            [CompletionResult]::new('--delete-excluded', '--delete-excluded', [CompletionResultType]::ParameterName, 'Also delete files in DEST that the filters exclude (implies --delete)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Accepted for rsync scripts: pcp''s --delete already replaces a non-empty directory by a file and back')
            [CompletionResult]::new('--gitignore', '--gitignore', [CompletionResultType]::ParameterName, 'Also honour .gitignore files (.pcpignore files are always honoured)')
            [CompletionResult]::new('--safe-links', '--safe-links', [CompletionResultType]::ParameterName, 'Drop symlinks that point outside the tree')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Output a change summary for every updated item (rsync''s format)')
            [CompletionResult]::new('--itemize-changes', '--itemize-changes', [CompletionResultType]::ParameterName, 'Output a change summary for every updated item (rsync''s format)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Output numbers in a human-readable format (K, M, G; -hh: powers of 1024). As in rsync, `-h` alone prints the help')
            [CompletionResult]::new('--human-readable', '--human-readable', [CompletionResultType]::ParameterName, 'Output numbers in a human-readable format (K, M, G; -hh: powers of 1024). As in rsync, `-h` alone prints the help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (`-h` alone too)')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'Same as --partial --progress (pcp always keeps partial data for resume)')
            [CompletionResult]::new('--partial', '--partial', [CompletionResultType]::ParameterName, 'Keep partially transferred data (always on in pcp; accepted for rsync compatibility)')
            [CompletionResult]::new('-z', '-z', [CompletionResultType]::ParameterName, 'Compress chunk data on the wire (default: adaptive, on for network transfers)')
            [CompletionResult]::new('--compress', '--compress', [CompletionResultType]::ParameterName, 'Compress chunk data on the wire (default: adaptive, on for network transfers)')
            [CompletionResult]::new('--no-compress', '--no-compress', [CompletionResultType]::ParameterName, 'Never compress chunk data')
            [CompletionResult]::new('--no-fsync', '--no-fsync', [CompletionResultType]::ParameterName, 'Skip syncing files to disk before renaming them into place (faster; a power loss may lose recent files)')
            [CompletionResult]::new('--fsync', '--fsync', [CompletionResultType]::ParameterName, 'Accepted for rsync scripts: pcp already makes each batch of files durable before it renames them into place (unless --no-fsync; the last of the two wins)')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)')
            [CompletionResult]::new('--no-remember', '--no-remember', [CompletionResultType]::ParameterName, 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)')
            [CompletionResult]::new('--no-mdns', '--no-mdns', [CompletionResultType]::ParameterName, 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1')
            [CompletionResult]::new('--no-rendezvous', '--no-rendezvous', [CompletionResultType]::ParameterName, 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml')
            [CompletionResult]::new('--relay-only', '--relay-only', [CompletionResultType]::ParameterName, 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print transfer statistics at the end')
            break
        }
        'pcp;cp' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Limit the bandwidth to LIMIT Kbit/s (scp -l; --bwlimit takes bytes)')
            [CompletionResult]::new('--bwlimit', '--bwlimit', [CompletionResultType]::ParameterName, 'Limit chunk data to RATE per second (KiB by default; suffixes K, M, G; 0 = no limit; also `bwlimit` in config.toml)')
            [CompletionResult]::new('--wait-lock', '--wait-lock', [CompletionResultType]::ParameterName, 'When another pcp run is writing into the same destination, wait up to SECONDS for it (default 0: fail at once, exit 35)')
            [CompletionResult]::new('--addr', '--addr', [CompletionResultType]::ParameterName, 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery')
            [CompletionResult]::new('--code-file', '--code-file', [CompletionResultType]::ParameterName, 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that')
            [CompletionResult]::new('--rendezvous', '--rendezvous', [CompletionResultType]::ParameterName, 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'The name this machine offers the peer to remember it by (default: the hostname)')
            [CompletionResult]::new('--congestion', '--congestion', [CompletionResultType]::ParameterName, 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION')
            [CompletionResult]::new('--info', '--info', [CompletionResultType]::ParameterName, 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Copy directories recursively')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Copy directories recursively')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Preserve modification times (permissions are always preserved, like scp)')
            [CompletionResult]::new('--preserve', '--preserve', [CompletionResultType]::ParameterName, 'Preserve modification times (permissions are always preserved, like scp)')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Compress (scp -C): pcp already compresses over the network where it pays (zstd); on a local copy it changes nothing')
            [CompletionResult]::new('--compress', '--compress', [CompletionResultType]::ParameterName, 'Compress (scp -C): pcp already compresses over the network where it pays (zstd); on a local copy it changes nothing')
            [CompletionResult]::new('-B', '-B ', [CompletionResultType]::ParameterName, 'Batch mode (scp -B): never ask; the code must come from PCP_CODE or --code-file, or the peer be paired')
            [CompletionResult]::new('--batch', '--batch', [CompletionResultType]::ParameterName, 'Batch mode (scp -B): never ask; the code must come from PCP_CODE or --code-file, or the peer be paired')
            [CompletionResult]::new('--no-fsync', '--no-fsync', [CompletionResultType]::ParameterName, 'Skip syncing files to disk before renaming them into place')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)')
            [CompletionResult]::new('--no-remember', '--no-remember', [CompletionResultType]::ParameterName, 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)')
            [CompletionResult]::new('--no-mdns', '--no-mdns', [CompletionResultType]::ParameterName, 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1')
            [CompletionResult]::new('--no-rendezvous', '--no-rendezvous', [CompletionResultType]::ParameterName, 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml')
            [CompletionResult]::new('--relay-only', '--relay-only', [CompletionResultType]::ParameterName, 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print transfer statistics at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'pcp;send' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)')
            [CompletionResult]::new('--rendezvous', '--rendezvous', [CompletionResultType]::ParameterName, 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file')
            [CompletionResult]::new('--congestion', '--congestion', [CompletionResultType]::ParameterName, 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION')
            [CompletionResult]::new('--info', '--info', [CompletionResultType]::ParameterName, 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Ask nothing (for scripts; `pcp send` has no question today, the receiver confirms)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Ask nothing (for scripts; `pcp send` has no question today, the receiver confirms)')
            [CompletionResult]::new('--no-mdns', '--no-mdns', [CompletionResultType]::ParameterName, 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1')
            [CompletionResult]::new('--no-rendezvous', '--no-rendezvous', [CompletionResultType]::ParameterName, 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml')
            [CompletionResult]::new('--relay-only', '--relay-only', [CompletionResultType]::ParameterName, 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print transfer statistics at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'pcp;receive' {
            [CompletionResult]::new('--addr', '--addr', [CompletionResultType]::ParameterName, 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery')
            [CompletionResult]::new('--code-file', '--code-file', [CompletionResultType]::ParameterName, 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that')
            [CompletionResult]::new('--rendezvous', '--rendezvous', [CompletionResultType]::ParameterName, 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'The name this machine offers the peer to remember it by (default: the hostname)')
            [CompletionResult]::new('--congestion', '--congestion', [CompletionResultType]::ParameterName, 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION')
            [CompletionResult]::new('--info', '--info', [CompletionResultType]::ParameterName, 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Accept the offer without asking')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Accept the offer without asking')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)')
            [CompletionResult]::new('--no-remember', '--no-remember', [CompletionResultType]::ParameterName, 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)')
            [CompletionResult]::new('--no-mdns', '--no-mdns', [CompletionResultType]::ParameterName, 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1')
            [CompletionResult]::new('--no-rendezvous', '--no-rendezvous', [CompletionResultType]::ParameterName, 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml')
            [CompletionResult]::new('--relay-only', '--relay-only', [CompletionResultType]::ParameterName, 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address')
            [CompletionResult]::new('--no-fsync', '--no-fsync', [CompletionResultType]::ParameterName, 'Skip fsync before renaming files into place')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print transfer statistics at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'pcp;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)')
            [CompletionResult]::new('--rendezvous', '--rendezvous', [CompletionResultType]::ParameterName, 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file')
            [CompletionResult]::new('--congestion', '--congestion', [CompletionResultType]::ParameterName, 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION')
            [CompletionResult]::new('--info', '--info', [CompletionResultType]::ParameterName, 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Exit after one session')
            [CompletionResult]::new('--read-only', '--read-only', [CompletionResultType]::ParameterName, 'Refuse pushes: peers may only read (sync/cp from this peer, ls)')
            [CompletionResult]::new('--no-code', '--no-code', [CompletionResultType]::ParameterName, 'Take no codes: print none and refuse new peers; only paired peers may connect')
            [CompletionResult]::new('--no-mdns', '--no-mdns', [CompletionResultType]::ParameterName, 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1')
            [CompletionResult]::new('--no-rendezvous', '--no-rendezvous', [CompletionResultType]::ParameterName, 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml')
            [CompletionResult]::new('--relay-only', '--relay-only', [CompletionResultType]::ParameterName, 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print transfer statistics at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'pcp;ls' {
            [CompletionResult]::new('--addr', '--addr', [CompletionResultType]::ParameterName, 'Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery')
            [CompletionResult]::new('--code-file', '--code-file', [CompletionResultType]::ParameterName, 'Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'When the connection drops, reconnect and continue up to N times (exponential backoff; default 3, or `retries` in config.toml)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml; an idle but healthy connection is kept alive); with --retries, reconnect after that')
            [CompletionResult]::new('--rendezvous', '--rendezvous', [CompletionResultType]::ParameterName, 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'The name this machine offers the peer to remember it by (default: the hostname)')
            [CompletionResult]::new('--congestion', '--congestion', [CompletionResultType]::ParameterName, 'Congestion controller for what this side sends: bbr (default: keeps the pipe full under random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION')
            [CompletionResult]::new('--info', '--info', [CompletionResultType]::ParameterName, 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Show the 4 verifier words and ask, before anything is sent, whether the peer shows the same ones (catches even a lucky guess of the code; needs a terminal)')
            [CompletionResult]::new('--no-remember', '--no-remember', [CompletionResultType]::ParameterName, 'On first contact with a code, do not pair: store nothing, and ask the peer to store nothing (by default both sides remember each other, and later runs need no code)')
            [CompletionResult]::new('--no-mdns', '--no-mdns', [CompletionResultType]::ParameterName, 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1')
            [CompletionResult]::new('--no-rendezvous', '--no-rendezvous', [CompletionResultType]::ParameterName, 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml')
            [CompletionResult]::new('--relay-only', '--relay-only', [CompletionResultType]::ParameterName, 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print transfer statistics at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'pcp;pair' {
            [CompletionResult]::new('--addr', '--addr', [CompletionResultType]::ParameterName, 'Join: reach the machine that printed the code at HOST:PORT (without --addr, this side hosts: it prints a code and waits for the other)')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Host: listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous)')
            [CompletionResult]::new('--code-file', '--code-file', [CompletionResultType]::ParameterName, 'Join: read the code from the first line of FILE (else PCP_CODE, else a prompt)')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'Join: the name this machine offers the other to remember it by (default: the hostname)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a silent peer after SECONDS (1-3600)')
            [CompletionResult]::new('--rendezvous', '--rendezvous', [CompletionResultType]::ParameterName, 'Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`; also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file')
            [CompletionResult]::new('--info', '--info', [CompletionResultType]::ParameterName, 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Show the 4 verifier words and ask whether the other side shows the same (join side)')
            [CompletionResult]::new('--no-mdns', '--no-mdns', [CompletionResultType]::ParameterName, 'Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1')
            [CompletionResult]::new('--no-rendezvous', '--no-rendezvous', [CompletionResultType]::ParameterName, 'Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml')
            [CompletionResult]::new('--relay-only', '--relay-only', [CompletionResultType]::ParameterName, 'Meet the peer only through the rendezvous'' relay (it forwards encrypted QUIC packets): no hole punch and no LAN lookup or answer, so neither side learns the other''s address')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print transfer statistics at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pcp;rendezvous' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Listen on ADDR (UDP; HOST:PORT). Peers name it with --rendezvous HOST:PORT or PCP_RENDEZVOUS')
            [CompletionResult]::new('--max-requests', '--max-requests', [CompletionResultType]::ParameterName, 'Requests per second one source IP may make (sustained; twice that as a burst); more are answered "rendezvous busy"')
            [CompletionResult]::new('--max-channels', '--max-channels', [CompletionResultType]::ParameterName, 'Tokens (waiting peers) registered at once, in all; more are answered "rendezvous busy"')
            [CompletionResult]::new('--max-relays', '--max-relays', [CompletionResultType]::ParameterName, 'Relays open at once (one per pair of peers whose NATs no punch gets through; 0: relay nothing); more are answered "rendezvous busy"')
            [CompletionResult]::new('--max-rate', '--max-rate', [CompletionResultType]::ParameterName, 'Bytes per second one relay forwards, both ways together (K/M/G suffixes, as --bwlimit; default: no limit)')
            [CompletionResult]::new('--info', '--info', [CompletionResultType]::ParameterName, 'rsync''s --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted and change nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Increase verbosity (list changed names)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Suppress non-error messages')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout (events: change, warning, progress, summary, error)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print transfer statistics at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pcp;peers' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Name, key fingerprint, paired and last seen, last address of every paired peer')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Call a paired peer NEW from now on (`NEW:path`)')
            [CompletionResult]::new('forget', 'forget', [CompletionResultType]::ParameterValue, 'End the pairing from this side: the peer''s key is refused from now on, and using its name needs a code again')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'pcp;peers;list' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per peer on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pcp;peers;rename' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pcp;peers;forget' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pcp;peers;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Name, key fingerprint, paired and last seen, last address of every paired peer')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Call a paired peer NEW from now on (`NEW:path`)')
            [CompletionResult]::new('forget', 'forget', [CompletionResultType]::ParameterValue, 'End the pairing from this side: the peer''s key is refused from now on, and using its name needs a code again')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'pcp;peers;help;list' {
            break
        }
        'pcp;peers;help;rename' {
            break
        }
        'pcp;peers;help;forget' {
            break
        }
        'pcp;peers;help;help' {
            break
        }
        'pcp;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pcp;help' {
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'rsync-like sync of SRC... into DEST (`dir/` means the contents of dir, `dir` the dir itself)')
            [CompletionResult]::new('cp', 'cp', [CompletionResultType]::ParameterValue, 'scp-like one-shot copy: -r for directories, overwrites, never deletes')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'One-shot: print a code, send PATH... to whoever enters it, exit')
            [CompletionResult]::new('receive', 'receive', [CompletionResultType]::ParameterValue, 'One-shot: ask for the code, show what is offered, confirm, receive into DEST')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Answer sync/cp/ls for DIR: paired peers with no code, new ones with the one-time code it prints (or PCP_CODE; --no-code: none)')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List a peer''s files, like rsync --list-only')
            [CompletionResult]::new('pair', 'pair', [CompletionResultType]::ParameterValue, 'Pair two machines with a code, once: one hosts (prints `Code: ...`), the other joins with --addr and the code; later sync/cp/ls between them need no code')
            [CompletionResult]::new('rendezvous', 'rendezvous', [CompletionResultType]::ParameterValue, 'Run a rendezvous server (self-hosted): peers with no address meet through it, by a code''s public channel word or a pairing''s daily token; it never sees a secret or a file')
            [CompletionResult]::new('peers', 'peers', [CompletionResultType]::ParameterValue, 'Paired peers (remembered after a first contact with a code): list, rename, forget')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'pcp;help;sync' {
            break
        }
        'pcp;help;cp' {
            break
        }
        'pcp;help;send' {
            break
        }
        'pcp;help;receive' {
            break
        }
        'pcp;help;serve' {
            break
        }
        'pcp;help;ls' {
            break
        }
        'pcp;help;pair' {
            break
        }
        'pcp;help;rendezvous' {
            break
        }
        'pcp;help;peers' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Name, key fingerprint, paired and last seen, last address of every paired peer')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Call a paired peer NEW from now on (`NEW:path`)')
            [CompletionResult]::new('forget', 'forget', [CompletionResultType]::ParameterValue, 'End the pairing from this side: the peer''s key is refused from now on, and using its name needs a code again')
            break
        }
        'pcp;help;peers;list' {
            break
        }
        'pcp;help;peers;rename' {
            break
        }
        'pcp;help;peers;forget' {
            break
        }
        'pcp;help;completions' {
            break
        }
        'pcp;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
