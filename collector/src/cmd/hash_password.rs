//! `zerofault-collector hash-password`: the `password_hash` of an `access.users` entry.
//!
//! The password is read from standard input (its first line), never from the command
//! line, where `ps` and the shell history would show it.

use std::io::BufRead;

use clap::Args;

use crate::http::access::{DEFAULT_ITERATIONS, MAX_ITERATIONS, MIN_ITERATIONS, PasswordHash};

/// Arguments of `hash-password`.
#[derive(Debug, Args)]
pub struct HashPasswordArgs {
    /// PBKDF2 iterations (100000 to 10000000). More is slower for an attacker and for
    /// each login (a verified login is remembered for 5 minutes).
    #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
    pub iterations: u32,
}

/// Reads one password from `input`, prints its hash; exit code 0, or 2 with the reason.
pub fn run(args: &HashPasswordArgs, input: &mut dyn BufRead) -> u8 {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&args.iterations) {
        eprintln!("error: --iterations must be {MIN_ITERATIONS} to {MAX_ITERATIONS}");
        return 2;
    }
    let mut line = String::new();
    if let Err(e) = input.read_line(&mut line) {
        eprintln!("error: cannot read the password from stdin: {e}");
        return 2;
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        eprintln!(
            "error: no password on stdin; e.g. `read -rs P && printf '%s\\n' \"$P\" | zerofault-collector hash-password`"
        );
        return 2;
    }
    println!("{}", PasswordHash::new(password, args.iterations));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_line_and_refuses_nothing() {
        let args = HashPasswordArgs {
            iterations: MIN_ITERATIONS,
        };
        assert_eq!(run(&args, &mut "s3cret\nrest\n".as_bytes()), 0);
        assert_eq!(run(&args, &mut "\n".as_bytes()), 2);
        assert_eq!(run(&args, &mut "".as_bytes()), 2);
        assert_eq!(
            run(&HashPasswordArgs { iterations: 10 }, &mut "x\n".as_bytes()),
            2
        );
    }
}
