//! The shell's command list and its help: names, aliases, usage lines and descriptions.

/// Name, usage and one-line description of every command, in `help` order.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "put",
        "put KEY VALUE [ttl=SECS]",
        "insert or replace KEY, expiring after SECS seconds if given (alias: set)",
    ),
    ("get", "get KEY", "print the value of KEY, or (nil)"),
    ("delete", "delete KEY", "delete KEY (alias: del)"),
    (
        "delete-range",
        "delete-range START END [--yes]",
        "delete every key in [START, END) (asks first on a terminal)",
    ),
    (
        "delete-prefix",
        "delete-prefix PREFIX [--yes]",
        "delete every key starting with PREFIX (asks first on a terminal)",
    ),
    (
        "scan",
        "scan [START [END]] [LIMIT]",
        "keys in [START, END) in order, at most LIMIT (default 100, 0 for all)",
    ),
    (
        "rscan",
        "rscan [START [END]] [LIMIT]",
        "as scan, in reverse order",
    ),
    ("prefix", "prefix P [LIMIT]", "keys starting with P"),
    (
        "search",
        "search TEXT [LIMIT]",
        "entries whose key or value contains TEXT",
    ),
    (
        "count",
        "count",
        "number of live keys (exact, by a full scan) and the estimate",
    ),
    (
        "batch",
        "batch [put K V | delete K]...",
        "apply several writes atomically; alone, collect lines until commit (or abort)",
    ),
    ("flush", "flush", "write the memtable to an SSTable"),
    ("compact", "compact", "compact the whole database"),
    (
        "stats",
        "stats [memory|disk|wal|cache|keyspace]",
        "engine statistics as JSON",
    ),
    (
        "levels",
        "levels",
        "the keyspace's LSM tree: tables per level, sizes, key ranges",
    ),
    (
        "keyspaces",
        "keyspaces",
        "every keyspace with its number of keys",
    ),
    (
        "use",
        "use NAME",
        "act on keyspace NAME from now on (the prompt shows it)",
    ),
    (
        "create-keyspace",
        "create-keyspace NAME [OPTION=VALUE]...",
        "create a keyspace, optionally with its own options",
    ),
    (
        "drop-keyspace",
        "drop-keyspace NAME [--yes]",
        "delete a keyspace and all its keys (asks first on a terminal)",
    ),
    (
        ".timer",
        ".timer on|off",
        "print how long each command took",
    ),
    (
        "help",
        "help [COMMAND]",
        "this list, or one command's usage",
    ),
    ("exit", "exit", "leave (alias: quit; Ctrl-D works too)"),
];

/// Extra text shown by `help COMMAND`.
fn details(name: &str) -> &'static str {
    match name {
        "scan" | "rscan" => {
            "A last word of digits is the LIMIT; quote it to use it as a key (scan \"10\").\n\
             START \"\" starts at the first key. Output lines are KEY VALUE, quoted and escaped,\n\
             so they can be pasted back into put."
        }
        "batch" => {
            "One line:   batch put a 1 put b 2 delete c\n\
             Several:    batch, then put/delete lines, then commit (or abort)."
        }
        "stats" => {
            "memory: memtables and block cache; disk: levels and SSTables; wal: the log;\n\
             cache: the block cache; keyspace: the current keyspace's shape.\n\
             Without a section: everything (every keyspace under \"keyspaces\")."
        }
        "use" | "keyspaces" => {
            "Every command that reads or writes keys acts on one keyspace: default, unless\n\
             --keyspace NAME or use NAME says otherwise. A batch is applied to the keyspace\n\
             the shell is in at commit."
        }
        "create-keyspace" => {
            "Options: compression=lz4|none, block_size=BYTES (16K works),\n\
             bloom_false_positive_rate=0.01, prefix_bloom_length=N,\n\
             compaction_strategy=leveled|tiered|lazy_leveling, ttl_seconds=N.\n\
             Unset options take the database's values."
        }
        "drop-keyspace" => {
            "On a terminal it asks before dropping; elsewhere (a script) it needs --yes.\n\
             The default keyspace cannot be dropped. Dropping the current keyspace\n\
             goes back to default."
        }
        "search" => "Scans every entry; stops after LIMIT matches (default 100, 0 for all).",
        "put" => {
            "ttl=SECS: the value expires SECS seconds after the write (by the database's clock)\n\
             and reads as absent from then on; it overrides the keyspace's ttl_seconds.\n\
             A third word must be ttl=SECS, unquoted (put k v \"ttl=1\" is a usage error);\n\
             put k ttl=1 stores the value ttl=1."
        }
        "delete-range" | "delete-prefix" => {
            "One range delete: one tombstone, however many keys it covers. END is exclusive;\n\
             an empty START or END (\"\") is no bound, so delete-range \"\" \"\" and\n\
             delete-prefix \"\" delete every key of the keyspace. On a terminal it asks\n\
             before deleting; elsewhere (a script) it needs --yes."
        }
        _ => "",
    }
}

/// Text printed by `help`.
pub fn help_text() -> String {
    let mut s = String::from("commands:\n");
    let width = COMMANDS.iter().map(|(_, u, _)| u.len()).max().unwrap_or(0);
    for (_, usage, about) in COMMANDS {
        s.push_str(&format!("  {usage:<width$} {about}\n"));
    }
    s.push_str(
        "words may be double-quoted; escapes: \\\\ \\\" \\n \\r \\t \\xHH (binary output is shown the same way)",
    );
    s
}

/// Text printed by `help NAME`, or `None` for an unknown command.
pub fn help_for(name: &str) -> Option<String> {
    let name = canonical(name);
    let (_, usage, about) = COMMANDS.iter().find(|(n, _, _)| *n == name)?;
    let more = details(name);
    Some(if more.is_empty() {
        format!("usage: {usage}\n{about}")
    } else {
        format!("usage: {usage}\n{about}\n{more}")
    })
}

/// The usage line of a command.
pub fn usage(name: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|(n, _, _)| *n == canonical(name))
        .map_or("", |(_, u, _)| u)
}

/// Maps aliases to command names.
pub(crate) fn canonical(name: &str) -> &str {
    match name {
        "set" => "put",
        "del" => "delete",
        "quit" => "exit",
        "?" => "help",
        "timer" => ".timer",
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn help_covers_every_command() {
        let h = help_text();
        for (name, _, _) in COMMANDS {
            assert!(h.contains(name), "{name}");
            assert!(help_for(name).is_some(), "{name}");
        }
        assert!(help_for("del").unwrap().contains("usage: delete KEY"));
        assert!(help_for("nope").is_none());
    }
}
