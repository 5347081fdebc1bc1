//! The `breakglass` binary: everything it does is in the operator library (`breakglass::cmd`).

/// mimalloc instead of glibc's malloc: glibc keeps a grown arena per thread and rarely gives
/// freed memory back, so a controller that once held 10,000 grants (or parsed one large
/// list) kept its peak; mimalloc returns freed pages to the OS (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    breakglass::cmd::main()
}
