//! The run's pictures written next to its report: `<phase>-latency.svg` for every phase with
//! samples, `aws-calls.svg` and `rss.svg` over the run (docs/performance.md embeds a run's).

use std::path::{Path, PathBuf};

use crate::{Error, plots, report::Samples, series};

/// "accounts.resolve_to_sessions_cut" → "accounts: resolve → sessions cut", phases capitalised
/// as the grant's status names them.
fn title(key: &str) -> String {
    key.replace('.', ": ")
        .replace("_to_", " → ")
        .replace('_', " ")
        .replace("→ active", "→ Active")
        .replace("→ ended", "→ Ended")
}

/// Writes every picture of a run of `n` grants into `dir`; the paths written.
pub fn write(dir: &Path, n: usize, samples: &Samples) -> Result<Vec<PathBuf>, Error> {
    let timeline = &samples.timeline;
    let mut pictures = vec![];
    for (key, latencies) in &samples.latencies_s {
        if !latencies.is_empty() {
            let name = format!("{}-latency.svg", key.replace(['.', '_'], "-"));
            pictures.push((name, plots::latency_cdf(&title(key), latencies)?));
        }
    }
    let calls = plots::over_time(
        &format!("AWS calls per second by API family (N={})", n),
        "calls/s (controller's metrics)",
        &series::rates(&timeline.ticks),
        &timeline.marks,
    )?;
    pictures.push(("aws-calls.svg".into(), calls));
    let rss = plots::over_time(
        &format!("controller memory (N={})", n),
        "RSS, MiB",
        &[("VmRSS".to_owned(), series::rss(&timeline.ticks))].into(),
        &timeline.marks,
    )?;
    pictures.push(("rss.svg".into(), rss));

    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_owned(),
        source,
    })?;
    pictures
        .into_iter()
        .map(|(name, svg)| {
            let path = dir.join(name);
            std::fs::write(&path, svg)
                .map(|_| path.clone())
                .map_err(|source| Error::Write { path, source })
        })
        .collect()
}
