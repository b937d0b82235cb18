//! The shell's command list and its help: names, aliases, usage lines and descriptions.

/// Name, usage and one-line description of every command, in `help` order.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("put", "put KEY VALUE", "insert or replace KEY (alias: set)"),
    ("get", "get KEY", "print the value of KEY, or (nil)"),
    ("delete", "delete KEY", "delete KEY (alias: del)"),
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
        "stats [memory|disk|wal|cache]",
        "engine statistics as JSON",
    ),
    (
        "levels",
        "levels",
        "the LSM tree's shape: tables per level, sizes, key ranges",
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
             cache: the block cache. Without a section: everything."
        }
        "search" => "Scans every entry; stops after LIMIT matches (default 100, 0 for all).",
        _ => "",
    }
}

/// Text printed by `help`.
pub fn help_text() -> String {
    let mut s = String::from("commands:\n");
    for (_, usage, about) in COMMANDS {
        s.push_str(&format!("  {usage:<32} {about}\n"));
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
