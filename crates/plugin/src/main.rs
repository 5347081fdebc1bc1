//! `kubectl-breakglass`: the kubectl plugin on its own, without the operator or the AWS SDK.

fn main() -> std::process::ExitCode {
    breakglass_plugin::run(std::env::args_os())
}
