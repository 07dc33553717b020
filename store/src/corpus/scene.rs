//! Scene labels from file names, as the reference implementation derives them.

/// The scene label of an image file name: the part before the first `_`
/// (`airport_348.jpg` -> `airport`). Names that start with a digit, which some RSICD
/// images have (`00623.jpg`), get the label `noneclass`.
pub fn scene_from_name(name: &str) -> String {
    // The reference takes the base name; keep that when a path is given.
    let base = name.rsplit('/').next().unwrap_or(name);
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        "noneclass".to_owned()
    } else {
        base.split('_').next().unwrap_or(base).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::scene_from_name;

    #[test]
    fn labels_follow_the_reference_rule() {
        assert_eq!(scene_from_name("airport_348.jpg"), "airport");
        assert_eq!(scene_from_name("denseresidential_1427.tif"), "denseresidential");
        assert_eq!(scene_from_name("00623.jpg"), "noneclass");
        assert_eq!(scene_from_name("sub/dir/forest_2.jpg"), "forest");
        assert_eq!(scene_from_name("plain.jpg"), "plain.jpg");
    }
}
