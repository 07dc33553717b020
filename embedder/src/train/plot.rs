//! The training plot (`train.png` next to the checkpoints): training loss and validation
//! mR per epoch, redrawn from the metrics log after every epoch and replaced atomically.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (the `dejavu` crate through
//! plotters' `ab_glyph` backend), so the plot needs no system font or fontconfig.

use std::path::Path;
use std::sync::Once;

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use plotters::prelude::*;

use crate::error::{EmbedError, Result};

/// Width of the PNG in pixels.
pub const WIDTH: u32 = 800;
/// Height of the PNG in pixels.
pub const HEIGHT: u32 = 600;
/// File name inside the output folder.
pub const PLOT: &str = "train.png";

/// One point per epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochPoint {
    /// Epoch (from 0).
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Validation mR, if validated.
    pub mr: Option<f64>,
}

/// The epoch lines of a metrics log (JSON Lines as [`super::run`] writes it).
pub fn points_from_log(text: &str) -> Vec<EpochPoint> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "epoch")
        .filter_map(|v| Some(EpochPoint { epoch: v["epoch"].as_u64()? as usize, loss: v["loss"].as_f64()?, mr: v["mr"].as_f64() }))
        .collect()
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans is a valid TrueType font; registration cannot fail on it.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

fn draw_err(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Stopped(format!("cannot draw the training plot: {e}"))
}

/// Axis range with some room, never empty.
fn range(values: impl Iterator<Item = f64>, floor_zero: bool) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if floor_zero {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - if floor_zero && lo == 0.0 { 0.0 } else { pad })..(hi + pad)
}

/// Draw the plot as RGB pixels (`WIDTH x HEIGHT x 3`).
pub fn render(points: &[EpochPoint]) -> Result<Vec<u8>> {
    register_font();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let panels = root.split_evenly((2, 1));
        // Epochs on x, from 0 to the last one (at least 1 wide so one point has an axis).
        let last = points.iter().map(|p| p.epoch).max().unwrap_or(0).max(1) as f64;
        let series: [(&str, &str, Vec<(f64, f64)>, RGBColor, bool); 2] = [
            ("training loss (mean per batch)", "loss", points.iter().map(|p| (p.epoch as f64, p.loss)).collect(), RED, true),
            ("validation mR", "mR", points.iter().filter_map(|p| p.mr.map(|m| (p.epoch as f64, m))).collect(), BLUE, true),
        ];
        for (panel, (title, ylabel, data, color, floor_zero)) in panels.iter().zip(series) {
            let y = range(data.iter().map(|d| d.1), floor_zero);
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..last, y)
                .map_err(draw_err)?;
            chart.configure_mesh().x_desc("epoch").y_desc(ylabel).draw().map_err(draw_err)?;
            if data.is_empty() {
                let style = ("sans-serif", 16).into_font().color(&BLACK);
                panel.draw_text("no validation split", &style, (WIDTH as i32 / 2 - 70, 140)).map_err(draw_err)?;
                continue;
            }
            chart.draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2))).map_err(draw_err)?;
            chart.draw_series(data.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(buf)
}

/// Encode RGB pixels of the plot's size as PNG.
pub fn encode_png(rgb: &[u8]) -> Result<Vec<u8>> {
    let mut png = Vec::new();
    PngEncoder::new(&mut png).write_image(rgb, WIDTH, HEIGHT, ExtendedColorType::Rgb8).map_err(draw_err)?;
    Ok(png)
}

/// Redraw `path` (a PNG) from the epoch lines of the metrics log at `log`, atomically.
pub fn write(path: &Path, log: &Path) -> Result<()> {
    let text = std::fs::read_to_string(log).map_err(|source| EmbedError::Io { path: log.to_owned(), source })?;
    let png = encode_png(&render(&points_from_log(&text))?)?;
    Ok(swan_store::fsutil::write_atomic(path, &png)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_epoch_lines_only() {
        let log = concat!(
            "{\"kind\":\"step\",\"epoch\":0,\"loss\":9.0}\n",
            "{\"kind\":\"epoch\",\"epoch\":0,\"loss\":3.5,\"mr\":12.0}\n",
            "{\"kind\":\"epoch\",\"epoch\":1,\"loss\":2.5,\"mr\":null}\n",
        );
        assert_eq!(
            points_from_log(log),
            vec![EpochPoint { epoch: 0, loss: 3.5, mr: Some(12.0) }, EpochPoint { epoch: 1, loss: 2.5, mr: None }]
        );
    }

    #[test]
    fn draws_lines_and_text() {
        let points: Vec<EpochPoint> =
            (0..4).map(|e| EpochPoint { epoch: e, loss: 100.0 / (e + 1) as f64, mr: Some(10.0 * e as f64) }).collect();
        let rgb = render(&points).unwrap();
        let red = rgb.chunks(3).filter(|p| p[0] > 200 && p[1] < 60 && p[2] < 60).count();
        let blue = rgb.chunks(3).filter(|p| p[2] > 200 && p[0] < 60 && p[1] < 60).count();
        assert!(red > 500 && blue > 500, "series drawn: {red} red, {blue} blue pixels");
        // The top 28 rows hold nothing but the first panel's title: its glyphs are dark pixels.
        let title = &rgb[..(WIDTH * 28 * 3) as usize];
        let dark = title.chunks(3).filter(|p| p[0] < 100 && p[1] < 100 && p[2] < 100).count();
        assert!(dark > 100, "title text drawn: {dark} dark pixels");
        let png = encode_png(&rgb).unwrap();
        let back = image::load_from_memory(&png).unwrap();
        assert_eq!((back.width(), back.height()), (WIDTH, HEIGHT));
        // No validation: the mR panel says so instead of failing.
        let none: Vec<EpochPoint> = points.iter().map(|p| EpochPoint { mr: None, ..*p }).collect();
        render(&none).unwrap();
        render(&[]).unwrap();
    }
}
