//! `/metrics`: the Prometheus text exposition, encoded by `prometheus-client` from a collector
//! that reads the daemon's atomics at scrape time.

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::Telemetry;
use crate::source::{Counters, now_ms};

#[derive(Debug)]
struct DaemonCollector(Arc<Telemetry>);

type Labels = Vec<(String, String)>;
/// Rows of one metric family: is it a counter, and (labels, value) per series.
type Family = (bool, Vec<(Labels, u64)>);

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, rows: &[(Labels, u64)]) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter_f(e: &mut DescriptorEncoder, name: &str, help: &str, rows: &[(Labels, f64)]) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, rows: &[(Labels, f64)]) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn source_labels(c: &Counters) -> Labels {
    vec![("source".into(), c.name.clone()), ("kind".into(), c.kind.clone())]
}

impl Collector for DaemonCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let t = &self.0;
        let sources = t.sources();
        let each = |f: &dyn Fn(&Counters) -> u64| -> Vec<(Labels, u64)> {
            sources.iter().map(|c| (source_labels(c), f(c))).collect()
        };
        let get = Counters::get;
        gauge(
            &mut e,
            "faultline_build_info",
            "Build information (always 1).",
            &[(vec![("version".into(), env!("CARGO_PKG_VERSION").into())], 1.0)],
        )?;
        counter(&mut e, "faultline_source_bytes", "Bytes read, per source.", &each(&|c| get(&c.bytes)))?;
        counter(&mut e, "faultline_source_lines", "Lines read, per source.", &each(&|c| get(&c.lines)))?;
        counter(
            &mut e,
            "faultline_source_lines_cut",
            "Lines longer than limits.max_line_bytes, cut.",
            &each(&|c| get(&c.lines_cut)),
        )?;
        let gauges = |f: &dyn Fn(&Counters) -> u64| -> Vec<(Labels, f64)> {
            sources.iter().map(|c| (source_labels(c), f(c) as f64)).collect()
        };
        gauge(&mut e, "faultline_source_streams", "Streams followed now.", &gauges(&|c| get(&c.streams)))?;
        gauge(&mut e, "faultline_open_files", "Files open now.", &gauges(&|c| get(&c.open_files)))?;
        counter(&mut e, "faultline_file_rotations", "File rotations seen.", &each(&|c| get(&c.rotations)))?;
        counter(
            &mut e,
            "faultline_file_truncations",
            "Files found truncated or rewritten (read again from the start).",
            &each(&|c| get(&c.truncations)),
        )?;
        counter(
            &mut e,
            "faultline_file_poll_fallbacks",
            "Times file events were unavailable and polling took over.",
            &each(&|c| get(&c.poll_fallbacks)),
        )?;
        let seconds: Vec<(Labels, f64)> =
            sources.iter().map(|c| (source_labels(c), get(&c.match_nanos) as f64 / 1e9)).collect();
        counter_f(
            &mut e,
            "faultline_match_seconds",
            "Time spent matching and correlating lines; divide by faultline_source_lines_total for the time per line.",
            &seconds,
        )?;
        let per_line: Vec<(Labels, f64)> = sources
            .iter()
            .map(|c| (source_labels(c), get(&c.match_nanos) as f64 / 1e9 / get(&c.lines).max(1) as f64))
            .collect();
        gauge(
            &mut e,
            "faultline_match_seconds_per_line",
            "Average matching time per line so far.",
            &per_line,
        )?;
        let mut by_playbook: BTreeMap<String, u64> = BTreeMap::new();
        for c in &sources {
            for (id, n) in c.findings_by_playbook.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                *by_playbook.entry(id.clone()).or_default() += n;
            }
        }
        let rows: Vec<(Labels, u64)> =
            by_playbook.into_iter().map(|(id, n)| (vec![("playbook".into(), id)], n)).collect();
        counter(&mut e, "faultline_findings", "Findings made, per playbook.", &rows)?;
        let now = now_ms();
        let ages: Vec<(Labels, f64)> = sources
            .iter()
            .filter(|c| get(&c.checkpoint_ms) > 0)
            .map(|c| (source_labels(c), now.saturating_sub(get(&c.checkpoint_ms)) as f64 / 1000.0))
            .collect();
        gauge(
            &mut e,
            "faultline_checkpoint_age_seconds",
            "Seconds since the source last wrote its checkpoint.",
            &ages,
        )?;
        counter(
            &mut e,
            "faultline_reloads",
            "Configuration reloads (SIGHUP).",
            &[
                (
                    vec![("result".into(), "ok".into())],
                    t.reloads_ok.load(std::sync::atomic::Ordering::Relaxed),
                ),
                (
                    vec![("result".into(), "failed".into())],
                    t.reloads_failed.load(std::sync::atomic::Ordering::Relaxed),
                ),
            ],
        )?;
        // Sinks: one family per value they report (sent, failed, retried, queued, spooled, dropped).
        let sinks = t.sinks();
        let mut families: BTreeMap<&'static str, Family> = BTreeMap::new();
        for s in &sinks {
            for (what, v, is_counter) in s.values() {
                families
                    .entry(what)
                    .or_insert((is_counter, Vec::new()))
                    .1
                    .push((vec![("sink".into(), s.name())], v));
            }
        }
        for (what, (is_counter, rows)) in families {
            let name = format!("faultline_sink_{what}");
            let help = format!("Sink findings {what}.");
            if is_counter {
                counter(&mut e, &name, &help, &rows)?;
            } else {
                let rows: Vec<(Labels, f64)> = rows.into_iter().map(|(l, v)| (l, v as f64)).collect();
                gauge(&mut e, &name, &help, &rows)?;
            }
        }
        Ok(())
    }
}

/// The whole exposition, in the Prometheus text format.
pub fn render(t: &Arc<Telemetry>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(DaemonCollector(t.clone())));
    let mut out = String::new();
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}
