//! The bench's pictures (benches/outside/plots.rs) and the arithmetic behind them
//! (series.rs), without a run: given series in, SVG text with the expected axes and lines out.

#[path = "../benches/outside/plots.rs"]
mod plots;
#[path = "../benches/outside/series.rs"]
mod series;

use std::collections::BTreeMap;

use series::{Mark, Tick};

fn tick(t_s: f64, pid: u32, rss: Option<f64>, calls: &[(&str, f64)]) -> Tick {
    Tick {
        t_s,
        pid,
        rss_mib: rss,
        aws_calls: Some(calls.iter().map(|(s, n)| (s.to_string(), *n)).collect()),
    }
}

/// The words of the SVG's `<text>` elements (axis descriptions, legend, labels).
fn texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            t.split_once('>')
                .and_then(|(_, rest)| rest.split_once("</text>"))
        })
        .map(|(text, _)| text.trim())
        .collect()
}

fn has(svg: &str, text: &str) -> bool {
    texts(svg).contains(&text)
}

/// Data lines drawn: series are 2 px wide and have more than the 2 points of a legend sample,
/// a grid line or a mark.
fn data_lines(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter(|l| l.contains(r#"stroke-width="2""#))
        .filter(|l| {
            l.split_once(r#"points=""#).is_some_and(|(_, p)| {
                p.split_whitespace()
                    .take_while(|w| !w.starts_with('"'))
                    .count()
                    > 2
            })
        })
        .count()
}

#[test]
fn rates_are_per_second_between_ticks_and_survive_a_restart() {
    let ticks = vec![
        tick(0.0, 7, None, &[("identitystore", 0.0)]),
        tick(2.0, 7, None, &[("identitystore", 10.0), ("sts", 4.0)]),
        // The scrape failed: no point, and the next rate spans the gap.
        Tick {
            t_s: 3.0,
            pid: 7,
            rss_mib: None,
            aws_calls: None,
        },
        tick(4.0, 7, None, &[("identitystore", 14.0), ("sts", 4.0)]),
        // Restarted: the new process counted 20 calls since it began, not 20 − 14.
        tick(5.0, 9, None, &[("identitystore", 20.0)]),
        tick(6.0, 9, None, &[("identitystore", 22.0)]),
    ];
    let r = series::rates(&ticks);
    assert_eq!(
        r["identitystore"],
        vec![(2.0, 5.0), (4.0, 2.0), (5.0, 20.0), (6.0, 2.0)]
    );
    assert_eq!(
        r["sts"],
        vec![(2.0, 2.0), (4.0, 0.0), (5.0, 0.0), (6.0, 0.0)]
    );
}

#[test]
fn kept_latencies_are_sorted_milliseconds_and_the_cdf_ends_at_one() {
    let kept = series::kept(&[0.30049, 0.1, 0.2004]);
    assert_eq!(kept, vec![0.1, 0.2, 0.3]);
    let cdf = series::cdf(&kept);
    assert_eq!(cdf.last(), Some(&(0.3, 1.0)));
    assert_eq!(cdf.len(), 3);
}

#[test]
fn a_latency_cdf_has_its_axes_percentiles_and_one_line() {
    let samples: Vec<f64> = (1..=100).map(|i| i as f64 / 100.0).collect();
    let svg = plots::latency_cdf("apply → Active", &samples).expect("renders");
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    for text in [
        "apply → Active (n=100)",
        "latency, seconds (log scale)",
        plots::CDF_AXIS,
        "p50 0.500 s",
        "p99 0.990 s",
    ] {
        assert!(has(&svg, text), "no {text:?} in {:?}", texts(&svg));
    }
    assert_eq!(data_lines(&svg), 1);
    assert!(plots::latency_cdf("empty", &[]).is_err());

    // Within one decade a log axis would have no tick label at all: linear then.
    let narrow = plots::latency_cdf("burst", &[2.0, 3.0, 4.0]).expect("renders");
    assert!(has(&narrow, "latency, seconds") && has(&narrow, "p99 4.000 s"));
}

#[test]
fn calls_over_time_draw_one_line_per_service_and_the_phase_marks() {
    let ticks: Vec<Tick> = (0..30)
        .map(|i| {
            let t = i as f64;
            tick(
                t,
                1,
                Some(20.0 + t),
                &[("identitystore", 3.0 * t), ("sso", t), ("sts", 2.0 * t)],
            )
        })
        .collect();
    let marks = vec![
        Mark {
            t_s: 0.0,
            phase: "apply".into(),
        },
        Mark {
            t_s: 12.0,
            phase: "steady".into(),
        },
    ];
    let rates = series::rates(&ticks);
    let svg = plots::over_time("AWS calls per second", "calls/s", &rates, &marks).expect("renders");
    for text in [
        "AWS calls per second",
        plots::TIME_AXIS,
        "calls/s",
        "identitystore",
        "sso",
        "sts",
        "apply",
        "steady",
    ] {
        assert!(has(&svg, text), "no {text:?} in {:?}", texts(&svg));
    }
    assert_eq!(data_lines(&svg), 3);

    let rss = BTreeMap::from([("controller".to_owned(), series::rss(&ticks))]);
    let svg = plots::over_time("RSS", "MiB", &rss, &marks).expect("renders");
    assert!(has(&svg, "MiB") && has(&svg, "controller"));
    assert_eq!(data_lines(&svg), 1);
}

#[test]
fn the_timeline_is_kept_in_the_report_with_its_gaps() {
    let timeline = series::Timeline {
        interval_s: 1.0,
        ticks: vec![Tick {
            t_s: 1.0,
            pid: 0,
            rss_mib: None,
            aws_calls: None,
        }],
        marks: vec![],
    };
    let json = serde_json::to_value(&timeline).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({"interval_s": 1.0, "marks": [],
            "ticks": [{"t_s": 1.0, "pid": 0, "rss_mib": null, "aws_calls": null}]})
    );
}

#[test]
fn peaks_are_the_highest_rate_within_the_span_of_a_phase() {
    let ticks = [
        tick(0.0, 1, None, &[("identitystore", 0.0)]),
        tick(1.0, 1, None, &[("identitystore", 50.0)]),
        tick(2.0, 2, None, &[("identitystore", 3.0)]),
        tick(3.0, 2, None, &[("identitystore", 21.0)]),
        tick(4.0, 2, None, &[("identitystore", 38.0), ("sts", 5.0)]),
    ];
    let timeline = series::Timeline {
        interval_s: 1.0,
        ticks: ticks.to_vec(),
        marks: vec![
            Mark {
                t_s: 0.0,
                phase: "apply".into(),
            },
            Mark {
                t_s: 1.5,
                phase: "budgets".into(),
            },
        ],
    };
    let (from, to) = series::span(&timeline, "budgets").expect("marked");
    assert_eq!(
        (from, to),
        (1.5, 4.0),
        "to the run's end when no phase follows"
    );
    let peaks = series::peaks(&timeline.ticks, from, to);
    // The 50/s before the mark is another phase's; a new process counts from zero.
    assert_eq!(peaks.get("identitystore"), Some(&18.0));
    assert_eq!(peaks.get("sts"), Some(&5.0));
    assert_eq!(series::span(&timeline, "apply"), Some((0.0, 1.5)));
    assert_eq!(series::span(&timeline, "nothing"), None);
}
