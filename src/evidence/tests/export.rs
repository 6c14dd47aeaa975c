//! Tests of the export format: what an entry says of its message, its JSON round trip, and
//! an export read back as a stream.

use super::*;
use crate::files::BoundedReader;
use crate::protocol::fault::MAX_HEARD;

#[test]
fn the_export_names_what_the_message_says() {
    let f = Fixture::new();
    let entry = f.impersonation();
    let claimed = entry.claimed.clone().unwrap();
    let key = f.key_of_seat(f.other_seat);
    assert_eq!(claimed.seat, f.other_seat);
    assert_eq!(claimed.author_operator, key.address());
    assert_eq!(claimed.author_peer_id, key.peer_id().to_base58());
    assert_eq!(claimed.action, ActionType::Heartbeat);
    assert_eq!(claimed.topic, f.wallet.coordination_topic());
}

#[test]
fn the_export_round_trips_through_json() {
    let f = Fixture::new();
    let entries = vec![f.impersonation(), f.idleness(f.keys[0].address())];
    let text = serde_json::to_string(&entries).unwrap();
    let back: Vec<EvidenceEntry> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, entries);
}

// Reading an export.

#[test]
fn a_long_heard_list_is_read_keeping_one_more_than_a_node_keeps() {
    let f = Fixture::new();
    let one = heard_from(
        &f,
        f.other_seat,
        CB,
        ActionType::Heartbeat,
        "LeaderImpersonation",
    );
    let entry = idleness_hearing(&f, vec![one; 10_000]);
    let text = serde_json::to_string(&vec![entry]).unwrap();
    let back: Vec<EvidenceEntry> = serde_json::from_str(&text).unwrap();
    assert_eq!(back[0].context.as_ref().unwrap().heard.len(), MAX_HEARD + 1);
    let checked = check_stream(text.as_bytes(), &f.seats()).unwrap();
    let verdict = checked.into_iter().next().unwrap().settle(&f.agreeing());
    assert!(failed(&verdict).contains("more than 64"));
}

#[test]
fn an_export_is_checked_as_a_stream_and_must_be_one_array() {
    let f = Fixture::new();
    let entries = vec![f.impersonation(), f.honest_idleness()];
    let text = serde_json::to_string(&entries).unwrap();
    let checked = check_stream(text.as_bytes(), &f.seats()).unwrap();
    assert_eq!(checked.len(), 2);
    for pending in checked {
        verified(&pending.settle(&f.agreeing()));
    }
    assert!(check_stream(&b"[]"[..], &f.seats()).unwrap().is_empty());
    for not_an_export in [
        format!("{text} []"),
        "{\"id\": 1}".to_string(),
        "[{\"id\": 1}]".to_string(),
        text[..text.len() - 1].to_string(),
        String::new(),
    ] {
        let err = check_stream(not_an_export.as_bytes(), &f.seats()).unwrap_err();
        assert!(!err.is_io(), "{err}");
    }
    // Past the reader's limit: an I/O error naming the limit.
    let limited = BoundedReader::new(text.as_bytes(), 100);
    let err = check_stream(limited, &f.seats()).unwrap_err();
    assert!(err.is_io(), "{err}");
    assert!(
        err.to_string()
            .contains("larger than the limit of 100 bytes"),
        "{err}"
    );
}
