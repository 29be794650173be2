use super::csv::field_offset;
use super::*;

fn parse(text: &str) -> Outcome<Dataset> {
    parse_csv(text.as_bytes(), "d.csv", "y", TargetKind::Real)
}

#[test]
fn parse_csv_reads_features_and_target_in_file_order() {
    let d = parse("a,y,b\n1,2,3\n4,5,6\n").unwrap();
    assert_eq!(d.features, ["a", "b"]);
    assert_eq!(d.x, vec![vec![1.0, 3.0], vec![4.0, 6.0]]);
    assert_eq!(d.y, [2.0, 5.0]);
}

#[test]
fn parse_csv_names_line_and_column_of_bad_cells() {
    let e = parse("a,y\n1,2\n3,x\n").unwrap_err();
    assert_eq!(e.message, "d.csv:3:2: column `y`: `x` is not a number");
    let e = parse("a,y\n1,2\n,4\n").unwrap_err();
    assert_eq!(e.message, "d.csv:3:1: column `a`: empty cell");
    let e = parse("a,y\n1,2\nNaN,4\n").unwrap_err();
    assert!(e.message.starts_with("d.csv:3:1:"), "{}", e.message);
    let e = parse("a,y\n1,2\n1,2,3\n").unwrap_err();
    assert_eq!(e.message, "d.csv:3: row has 3 fields, the header has 2");
    let e = parse("a,y\n1,2\n").unwrap_err();
    assert!(e.message.contains("at least 2"));
    let e = parse("a,b\n1,2\n").unwrap_err();
    assert!(e.message.starts_with("d.csv:1: no column named `y`"));
    assert_eq!(e.code, 2);
    let e = parse_csv(
        "a,y\n1,2\n3,1.5\n".as_bytes(),
        "d.csv",
        "y",
        TargetKind::Class,
    );
    assert!(e.unwrap_err().message.starts_with("d.csv:3:2:"));
}

#[test]
fn locations_are_right_for_crlf_bom_quotes_and_blank_lines() {
    let at = |text: &str| parse(text).unwrap_err().message;
    let bad = "d.csv:4:2: column `y`: `x` is not a number";
    assert_eq!(at("a,y\n1,2\n3,4\n5,x\n"), bad);
    assert_eq!(at("a,y\r\n1,2\r\n3,4\r\n5,x\r\n"), bad);
    assert_eq!(
        at("a,y\r\n1,2\r\n3,4\r\nx,5\r\n"),
        "d.csv:4:1: column `a`: `x` is not a number"
    );
    assert_eq!(
        at("a,y\r\n1,2\r\n3,4\r\n5\r\n"),
        "d.csv:4: row has 1 fields, the header has 2"
    );
    assert_eq!(at("\u{feff}a,y\r\n1,2\r\n3,4\r\n5,x\r\n"), bad);
    assert_eq!(at("a,y\r1,2\r3,4\r5,x\r"), bad);
    assert_eq!(at("a,y\n\n1,2\n5,x\n"), bad);
    assert_eq!(at("a,y\r\n\r\n1,2\r\n5,x\r\n"), bad);
    assert_eq!(
        at("a,y\n1,\"2\"\n\"5\",\"x\"\n"),
        "d.csv:3:2: column `y`: `x` is not a number"
    );
    // A quoted field spanning lines: the next field starts a line later.
    assert_eq!(at("a,y\n1,2\n\" 3\n\",x\n"), bad);
    assert_eq!(at("a,y\r\n1,2\r\n\" 3\r\n\",x\r\n"), bad);
    assert_eq!(at("\"a\ny\",y\n1,2\n5,x\n"), bad);
}

#[test]
fn field_offsets_follow_quotes() {
    let t = b"\"a,\"\"b\",c,\"d\nx\",e";
    assert_eq!(field_offset(t, 0, 1), 8);
    assert_eq!(field_offset(t, 0, 3), t.len() - 1);
}

#[test]
fn header_names_must_be_unique_and_non_empty() {
    let e = parse("a,y,y\n1,2,3\n4,5,6\n").unwrap_err();
    assert_eq!(
        e.message,
        "d.csv:1:3: column name `y` is used twice (columns 2 and 3)"
    );
    let e = parse("a, y ,b,y\n1,2,3,4\n").unwrap_err();
    assert!(
        e.message.starts_with("d.csv:1:4: column name `y`"),
        "{}",
        e.message
    );
    let e = parse("a,,y\n1,2,3\n4,5,6\n").unwrap_err();
    assert_eq!(e.message, "d.csv:1:2: column 2 has no name");
    let e = parse("\r\n\r\na,y,\r\n1,2,3\r\n").unwrap_err();
    assert_eq!(e.message, "d.csv:3:3: column 3 has no name");
}

#[test]
fn class_checks_name_the_offending_label() {
    let d = parse_csv(
        "a,y\n1,1\n2,2\n3,1\n".as_bytes(),
        "c.csv",
        "y",
        TargetKind::Class,
    )
    .unwrap();
    let e = d.check_classes("c.csv", &[0, 1, 2], 1000).unwrap_err();
    assert!(
        e.message.starts_with(
            "c.csv:3:2: column `y`: label `2` implies classes 0..2, but no row has class 0"
        ),
        "{}",
        e.message
    );
    let e = d.check_classes("c.csv", &[0, 1, 2], 2).unwrap_err();
    assert!(
        e.message
            .starts_with("c.csv:3:2: column `y`: label `2` would make 3 classes"),
        "{}",
        e.message
    );
    let d = parse_csv(
        "a,y\n1,0\n2,1\n".as_bytes(),
        "c.csv",
        "y",
        TargetKind::Class,
    )
    .unwrap();
    assert_eq!(d.check_classes("c.csv", &[0, 1], 2), Ok(2));
    let e = d.check_classes("c.csv", &[0], 2).unwrap_err();
    assert!(
        e.message
            .starts_with("c.csv:3:2: column `y`: class 1 is only in the test split"),
        "{}",
        e.message
    );
}

#[test]
fn standardizer_gives_zero_mean_unit_variance() {
    let rows = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
    let s = Standardizer::fit(&rows);
    assert_eq!(s.mean, [2.0, 5.0]);
    assert_eq!(s.std, [1.0, 1.0]);
    assert_eq!(s.apply(&[3.0, 5.0]), [1.0, 0.0]);
}

#[test]
fn split_is_a_partition_with_the_requested_test_size() {
    let (a, b) = split(10, 0.2, 1);
    assert_eq!((a.len(), b.len()), (8, 2));
    let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    assert_eq!(split(10, 0.0, 1).1.len(), 0);
}
