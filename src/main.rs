//! The `breakglass` binary: everything it does is in the operator library (`breakglass::cmd`).

fn main() -> std::process::ExitCode {
    breakglass::cmd::main()
}
