//! Bar charts as inline SVG, rendered on the server: no script, nothing fetched.
//! Each chart has a `<title>` and a `<desc>` that says what it shows in words,
//! each bar segment a `<title>` with its exact number (a tooltip, and what a
//! screen reader reads); the page puts a table of the same numbers under it.

use std::fmt::Write;

/// Colours of the series, in order (distinguishable for the common kinds of
/// colour blindness; the legend and the tables carry the names).
// The legend's swatches (`.swatch.c0` … `.c6` in airlock.css) use the same colours.
const PALETTE: [&str; 7] = [
    "#2f6fdf", "#e8833a", "#3aa17e", "#c0437a", "#7b61c9", "#b59a1b", "#8a8f98",
];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 8.0;

/// One stacked bar per day: `values[day][series]`.
pub struct Stacked<'a> {
    /// Used for the element ids of the title and description.
    pub id: &'a str,
    pub title: &'a str,
    pub description: String,
    pub days: Vec<String>,
    pub series: &'a [String],
    pub values: Vec<Vec<i64>>,
    /// How an axis value or a bar's number reads (dollars, a count).
    pub format: fn(i64) -> String,
}

/// Escapes text for SVG (XML) content and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The series' colour.
pub fn colour(index: usize) -> &'static str {
    PALETTE
        .get(index)
        .copied()
        .unwrap_or(PALETTE[PALETTE.len() - 1])
}

/// A round number at or above `max` for the top of the axis (1, 2 or 5 × 10ⁿ).
fn nice_ceiling(max: i64) -> i64 {
    if max <= 0 {
        return 1;
    }
    let mut step: i64 = 1;
    // checked: near i64::MAX a saturating step would stop growing and never end.
    while let Some(next) = step.checked_mul(10).filter(|next| *next <= max) {
        step = next;
    }
    for factor in [1, 2, 5, 10] {
        let candidate = step.saturating_mul(factor);
        if candidate >= max {
            return candidate;
        }
    }
    max
}

pub fn stacked(chart: &Stacked<'_>) -> String {
    let totals: Vec<i64> = chart
        .values
        .iter()
        .map(|day| day.iter().map(|v| (*v).max(0)).sum())
        .collect();
    let top = nice_ceiling(totals.iter().copied().max().unwrap_or(0));
    let plot_height = HEIGHT - BOTTOM - TOP;
    let plot_width = WIDTH - LEFT - 8.0;
    let count = chart.days.len().max(1) as f64;
    let slot = plot_width / count;
    let bar = (slot * 0.7).max(1.0);
    let id = escape(chart.id);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="none"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(chart.title),
        escape(&chart.description)
    );
    // Axis: zero, half and top, with their values.
    for fraction in [0.0, 0.5, 1.0] {
        let y = TOP + plot_height * (1.0 - fraction);
        let value = (top as f64 * fraction).round() as i64;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{WIDTH}" y1="{y:.1}" y2="{y:.1}" stroke="#d9dde3" stroke-width="1"/><text x="{x:.1}" y="{ty:.1}" font-size="10" text-anchor="end" fill="#555">{}</text>"##,
            escape(&(chart.format)(value)),
            x = LEFT - 4.0,
            ty = y + 3.0
        );
    }
    for (i, day) in chart.days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = TOP + plot_height;
        let values = chart.values.get(i).map(Vec::as_slice).unwrap_or(&[]);
        for (s, value) in values.iter().enumerate() {
            if *value <= 0 {
                continue;
            }
            let h = plot_height * (*value as f64) / (top as f64);
            y -= h;
            let name = chart.series.get(s).map(String::as_str).unwrap_or("");
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}"><title>{} · {}: {}</title></rect>"#,
                colour(s),
                escape(day),
                escape(name),
                escape(&(chart.format)(*value))
            );
        }
        // Label a few days under the axis (first, last and every seventh).
        if i == 0 || i + 1 == chart.days.len() || i % 7 == 0 {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#555">{}</text>"##,
                x + bar / 2.0,
                HEIGHT - 8.0,
                escape(day.get(5..).unwrap_or(day))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(n: i64) -> String {
        n.to_string()
    }

    #[test]
    fn names_are_escaped_and_every_value_has_a_title() {
        let series = vec!["<script>".to_owned(), "b".to_owned()];
        let svg = stacked(&Stacked {
            id: "c",
            title: "Cost",
            description: "Two days".into(),
            days: vec!["2026-03-01".into(), "2026-03-02".into()],
            series: &series,
            values: vec![vec![5, 0], vec![3, 4]],
            format: count,
        });
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("2026-03-02 · b: 4"));
        assert!(svg.contains(r#"role="img""#));
    }

    #[test]
    fn an_empty_chart_renders() {
        let svg = stacked(&Stacked {
            id: "c",
            title: "Cost",
            description: String::new(),
            days: Vec::new(),
            series: &[],
            values: Vec::new(),
            format: count,
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(1_234), 2_000);
        assert_eq!(nice_ceiling(i64::MAX), i64::MAX);
    }
}
