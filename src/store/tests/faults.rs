//! Fault queries: filters, orders, pages and per-operator summaries, checked against a
//! reference computed in the test, plus the query plans and a 100,000-fault table that
//! show pages walk an index rather than sort.

use rusqlite::{params, params_from_iter};

use super::*;

/// One fault of the fixture, as the test expects to read it back.
type Expected = (i64, WalletPkh, u64, Address, FaultType, Address);

/// A deterministic spread of faults over 4 wallets, 5 operators, 3 types and 30 windows,
/// with several faults per window so that ties on every sort key exist.
fn fault_fixture(store: &Store) -> Vec<Expected> {
    let mut expected = Vec::new();
    let mut id = 0;
    for i in 0..30u64 {
        for w in 0..4u8 {
            let cb = 900 * (1 + (i * 7 + u64::from(w) * 3) % 25);
            let leader = (i as u8 + w) % 5 + 1;
            let mut faults = Vec::new();
            for k in 0..((i + u64::from(w)) % 4) {
                let f = FaultType::ALL[((i + k) % 3) as usize];
                let culprit = if f == FaultType::LeaderImpersonation {
                    (leader + 1 + k as u8) % 5 + 1
                } else {
                    leader
                };
                faults.push(fault(f, culprit));
            }
            let r = result_for(w + 1, cb, leader, faults.clone());
            if store.record_result(&r).unwrap() {
                for f in faults {
                    id += 1;
                    expected.push((id, wallet(w + 1), cb, f.culprit, f.fault, operator(leader)));
                }
            }
        }
    }
    expected
}

fn key(f: &FaultRow) -> Expected {
    (
        f.id,
        f.wallet,
        f.coordination_block,
        f.culprit,
        f.fault,
        f.leader,
    )
}

fn sorted(mut rows: Vec<Expected>, order: FaultOrder) -> Vec<Expected> {
    use std::cmp::Reverse;
    match order {
        FaultOrder::NewestFirst => rows.sort_by_key(|r| Reverse((r.2, r.0))),
        FaultOrder::OldestFirst => rows.sort_by_key(|r| (r.2, r.0)),
        FaultOrder::ByOperator => rows.sort_by_key(|r| (r.3.to_checksum(), Reverse((r.2, r.0)))),
        FaultOrder::ByType => rows.sort_by_key(|r| (r.4.name(), Reverse((r.2, r.0)))),
        FaultOrder::ByWallet => rows.sort_by_key(|r| (r.1.to_hex(), Reverse((r.2, r.0)))),
    }
    rows
}

/// A filter and the reference predicate it must agree with.
type FilterCase = (FaultFilter, Box<dyn Fn(&Expected) -> bool>);

fn filters() -> Vec<FilterCase> {
    let op3 = operator(3);
    let op3_text = op3.to_checksum();
    vec![
        (FaultFilter::default(), Box::new(|_| true)),
        (
            FaultFilter {
                wallet: Some(wallet(2)),
                ..Default::default()
            },
            Box::new(|e| e.1 == wallet(2)),
        ),
        (
            FaultFilter {
                operator: Some(op3),
                ..Default::default()
            },
            Box::new(move |e| e.3 == op3),
        ),
        (
            FaultFilter {
                fault: Some(FaultType::LeaderMistake),
                ..Default::default()
            },
            Box::new(|e| e.4 == FaultType::LeaderMistake),
        ),
        (
            FaultFilter {
                from_block: Some(9000),
                ..Default::default()
            },
            Box::new(|e| e.2 >= 9000),
        ),
        (
            FaultFilter {
                to_block: Some(9000),
                ..Default::default()
            },
            Box::new(|e| e.2 <= 9000),
        ),
        (
            FaultFilter {
                from_block: Some(4500),
                to_block: Some(13500),
                ..Default::default()
            },
            Box::new(|e| (4500..=13500).contains(&e.2)),
        ),
        // Search: wallet hex (with and without 0x, any case).
        (
            FaultFilter {
                search: Some("0XA3A3".into()),
                ..Default::default()
            },
            Box::new(|e| e.1 == wallet(3)),
        ),
        (
            FaultFilter {
                search: Some("  a4a4a4a4a4  ".into()),
                ..Default::default()
            },
            Box::new(|e| e.1 == wallet(4)),
        ),
        // Search: culprit address text, case-insensitively.
        (
            FaultFilter {
                search: Some(op3_text[..12].to_uppercase()),
                ..Default::default()
            },
            Box::new(move |e| e.3 == op3),
        ),
        // Search: fault type name, case-insensitively.
        (
            FaultFilter {
                search: Some("impersonation".into()),
                ..Default::default()
            },
            Box::new(|e| e.4 == FaultType::LeaderImpersonation),
        ),
        // A search may hit a wallet or a culprit: either selects the fault.
        (
            FaultFilter {
                search: Some("2".into()),
                ..Default::default()
            },
            Box::new(|e| e.1 == wallet(2) || e.3 == operator(2)),
        ),
        // Searches that every fault matches, through its culprit or its type.
        (
            FaultFilter {
                search: Some("0x".into()),
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        (
            FaultFilter {
                search: Some("LEADER".into()),
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        // Blank search is no filter; '%' is literal.
        (
            FaultFilter {
                search: Some("   ".into()),
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        (
            FaultFilter {
                search: Some("%".into()),
                ..Default::default()
            },
            Box::new(|_| false),
        ),
        // Everything at once.
        (
            FaultFilter {
                wallet: Some(wallet(1)),
                operator: Some(operator(2)),
                fault: Some(FaultType::LeaderIdleness),
                from_block: Some(1800),
                to_block: Some(18000),
                search: Some("idle".into()),
            },
            Box::new(|e| {
                e.1 == wallet(1)
                    && e.3 == operator(2)
                    && e.4 == FaultType::LeaderIdleness
                    && (1800..=18000).contains(&e.2)
            }),
        ),
    ]
}

#[test]
fn fault_filters_orders_and_counts_match_a_reference() {
    let store = Store::open_in_memory().unwrap();
    let all = fault_fixture(&store);
    assert!(all.len() > 100, "fixture has {} faults", all.len());
    check_filters_and_orders(&store, &all);
}

#[test]
fn search_by_substring_per_row_gives_the_same_answers() {
    let mut store = Store::open_in_memory().unwrap();
    // No IN lists at all: every search that is not "everything" tests each row.
    store.max_search_values = 0;
    let all = fault_fixture(&store);
    check_filters_and_orders(&store, &all);
}

fn check_filters_and_orders(store: &Store, all: &[Expected]) {
    for (i, (filter, keep)) in filters().into_iter().enumerate() {
        let expected: Vec<Expected> = all.iter().copied().filter(|e| keep(e)).collect();
        assert_eq!(
            store.count_faults(&filter).unwrap(),
            expected.len() as u64,
            "count, filter #{i}: {filter:?}"
        );
        // Every filter but the impossible one must select something, or it tests nothing.
        if filter.search.as_deref() != Some("%") {
            assert!(!expected.is_empty(), "filter #{i} selects nothing");
        }
        for order in FaultOrder::ALL {
            let got: Vec<Expected> = store
                .faults(&filter, order, 0, u64::MAX)
                .unwrap()
                .iter()
                .map(key)
                .collect();
            assert_eq!(
                got,
                sorted(expected.clone(), order),
                "filter #{i} {filter:?}, order {order:?}"
            );
        }
    }
}

#[test]
fn fault_pages_concatenate_to_the_full_list() {
    let store = Store::open_in_memory().unwrap();
    fault_fixture(&store);
    for (i, (filter, _)) in filters().into_iter().enumerate() {
        for order in FaultOrder::ALL {
            let full = store.faults(&filter, order, 0, 10_000).unwrap();
            let mut paged = Vec::new();
            let mut offset = 0;
            loop {
                let page = store.faults(&filter, order, offset, 7).unwrap();
                assert!(page.len() <= 7);
                if page.is_empty() {
                    break;
                }
                offset += page.len() as u64;
                paged.extend(page);
            }
            assert_eq!(paged, full, "filter #{i}, order {order:?}");
        }
    }
    let beyond = store
        .faults(
            &FaultFilter::default(),
            FaultOrder::NewestFirst,
            1_000_000,
            10,
        )
        .unwrap();
    assert!(beyond.is_empty());
}

#[test]
fn fault_summary_counts_per_operator() {
    let store = Store::open_in_memory().unwrap();
    let all = fault_fixture(&store);
    for (i, (filter, keep)) in filters().into_iter().enumerate() {
        let rows: Vec<Expected> = all.iter().copied().filter(|e| keep(e)).collect();
        let summary = store.fault_summary(&filter).unwrap();
        let mut operators: Vec<Address> = rows.iter().map(|r| r.3).collect();
        operators.sort();
        operators.dedup();
        assert_eq!(summary.len(), operators.len(), "filter #{i}");
        for s in &summary {
            let mine: Vec<&Expected> = rows.iter().filter(|r| r.3 == s.operator).collect();
            assert_eq!(s.total, mine.len() as u64);
            for f in FaultType::ALL {
                let n = mine.iter().filter(|r| r.4 == f).count() as u64;
                assert_eq!(s.count(f), n, "filter #{i} {:?} {f}", s.operator);
                assert_eq!(s.by_type.get(&f), Some(&n));
            }
            let last = mine.iter().max_by_key(|r| (r.2, r.0)).unwrap();
            assert_eq!(s.last_coordination_block, last.2);
            assert_eq!(s.last_fault, last.4);
        }
        assert!(summary.windows(2).all(|p| p[0].total >= p[1].total));
    }
}

#[test]
fn fault_summary_small_example() {
    let store = Store::open_in_memory().unwrap();
    store
        .record_result(&result_for(
            1,
            900,
            1,
            vec![
                fault(FaultType::LeaderIdleness, 1),
                fault(FaultType::LeaderImpersonation, 2),
            ],
        ))
        .unwrap();
    store
        .record_result(&result_for(
            1,
            1800,
            1,
            vec![fault(FaultType::LeaderMistake, 1)],
        ))
        .unwrap();
    store
        .record_result(&result_for(
            2,
            1800,
            1,
            vec![fault(FaultType::LeaderIdleness, 1)],
        ))
        .unwrap();
    let s = store.fault_summary(&FaultFilter::default()).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].operator, operator(1));
    assert_eq!(s[0].total, 3);
    assert_eq!(s[0].count(FaultType::LeaderIdleness), 2);
    assert_eq!(s[0].count(FaultType::LeaderMistake), 1);
    assert_eq!(s[0].count(FaultType::LeaderImpersonation), 0);
    assert_eq!(s[0].last_coordination_block, 1800);
    // Both block-1800 faults tie on block; the later-recorded one is the latest.
    assert_eq!(s[0].last_fault, FaultType::LeaderIdleness);
    assert_eq!(s[1].operator, operator(2));
    assert_eq!(s[1].total, 1);
    assert_eq!(s[1].last_fault, FaultType::LeaderImpersonation);
    assert_eq!(s[1].last_coordination_block, 900);
    assert!(store
        .fault_summary(&FaultFilter {
            fault: Some(FaultType::LeaderMistake),
            operator: Some(operator(2)),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}

/// The query plan of a fault page, one line per step.
fn plan(store: &Store, filter: &FaultFilter, order: FaultOrder) -> String {
    let conn = store.conn().unwrap();
    let (query, values) = store.fault_page_query(&conn, filter, order, 0, 50).unwrap();
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
        .unwrap();
    let rows = stmt
        .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
}

#[test]
fn fault_pages_walk_an_index_without_sorting() {
    let store = Store::open_in_memory().unwrap();
    // Unfiltered, every order is an index walk: no full sort of the table per page.
    for order in FaultOrder::ALL {
        let p = plan(&store, &FaultFilter::default(), order);
        assert!(!p.contains("TEMP B-TREE"), "{order:?}: {p}");
    }
    // A single equality filter uses its index, and newest-first needs no sort.
    let single = [
        FaultFilter {
            wallet: Some(wallet(1)),
            ..Default::default()
        },
        FaultFilter {
            operator: Some(operator(1)),
            ..Default::default()
        },
        FaultFilter {
            fault: Some(FaultType::LeaderIdleness),
            ..Default::default()
        },
        FaultFilter {
            from_block: Some(900),
            to_block: Some(9000),
            ..Default::default()
        },
    ];
    for filter in &single {
        let p = plan(&store, filter, FaultOrder::NewestFirst);
        assert!(p.contains("USING INDEX faults_by_"), "{filter:?}: {p}");
        assert!(!p.contains("TEMP B-TREE"), "{filter:?}: {p}");
    }
}

/// 100,000 faults over 10,000 windows, 40 wallets and 50 operators, bulk-loaded straight
/// into the tables: the tests using it are about reading.
fn load_100k_faults(store: &Store) {
    let mut conn = store.conn().unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut result = tx
            .prepare(
                "INSERT INTO results (wallet, coordination_block, safe_block_hash, seed,
                     leader, leader_member_index, role, checklist, action, proposal,
                     fault_count, recorded_at)
                 VALUES (?1, ?2, '', '', ?3, 1, 'follower', '', 'Noop', '{}', 10, 0)",
            )
            .unwrap();
        let mut fault = tx
            .prepare(
                "INSERT INTO faults (wallet, coordination_block, culprit, fault_type,
                     leader, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
            )
            .unwrap();
        let operators: Vec<String> = (1..=50u8).map(|n| operator(n).to_checksum()).collect();
        for i in 0..10_000u64 {
            let w = wallet((i % 40) as u8 + 1).to_hex();
            let cb = block_to_sql(900 * (i + 1));
            let leader = &operators[(i % 50) as usize];
            result.execute(params![w, cb, leader]).unwrap();
            for k in 0..10u64 {
                let f = FaultType::ALL[((i + k) % 3) as usize].name();
                let culprit = &operators[((i + k * 7) % 50) as usize];
                fault.execute(params![w, cb, culprit, f, leader]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

#[test]
fn a_hundred_thousand_faults_page_quickly() {
    let store = Store::open_in_memory().unwrap();
    load_100k_faults(&store);
    let filters = [
        FaultFilter::default(),
        FaultFilter {
            operator: Some(operator(7)),
            ..Default::default()
        },
        FaultFilter {
            wallet: Some(wallet(3)),
            fault: Some(FaultType::LeaderMistake),
            ..Default::default()
        },
        FaultFilter {
            from_block: Some(900 * 2000),
            to_block: Some(900 * 8000),
            ..Default::default()
        },
        FaultFilter {
            search: Some("mistake".into()),
            ..Default::default()
        },
    ];
    assert_eq!(store.count_faults(&filters[0]).unwrap(), 100_000);
    for filter in &filters {
        let total = store.count_faults(filter).unwrap();
        assert!(total >= 50, "{filter:?} selects only {total}");
        for order in FaultOrder::ALL {
            for offset in [0, total / 2, total - 50] {
                let page = store.faults(filter, order, offset, 50).unwrap();
                assert_eq!(page.len(), 50, "{filter:?} {order:?} at {offset}");
            }
        }
        let summary = store.fault_summary(filter).unwrap();
        assert_eq!(summary.iter().map(|s| s.total).sum::<u64>(), total);
    }
    let newest = store
        .faults(&filters[0], FaultOrder::NewestFirst, 0, 1)
        .unwrap();
    assert_eq!(newest[0].coordination_block, 9_000_000);
    // That no page sorts the table is checked on the query plans (above), not with a clock;
    // examples/console_bench measures how long pages take.
}

#[test]
fn fault_block_bounds_above_i64_max_do_not_wrap() {
    let store = Store::open_in_memory().unwrap();
    for cb in [900, 1800] {
        store
            .record_result(&result_for(
                1,
                cb,
                3,
                vec![fault(FaultType::LeaderIdleness, 3)],
            ))
            .unwrap();
    }
    let above = i64::MAX as u64 + 1;
    let cases = [
        (Some(above), None, 0),
        (Some(u64::MAX), None, 0),
        (Some(above), Some(u64::MAX), 0),
        (None, Some(above), 2),
        (None, Some(u64::MAX), 2),
        (Some(900), Some(u64::MAX), 2),
        (Some(1000), Some(above), 1),
        (Some(0), Some(i64::MAX as u64), 2),
    ];
    for (from_block, to_block, expected) in cases {
        let filter = FaultFilter {
            from_block,
            to_block,
            ..Default::default()
        };
        let what = format!("{from_block:?}..={to_block:?}");
        assert_eq!(store.count_faults(&filter).unwrap(), expected, "{what}");
        for order in FaultOrder::ALL {
            assert_eq!(
                store.faults(&filter, order, 0, 10).unwrap().len() as u64,
                expected,
                "{what} {order:?}"
            );
        }
        let summed: u64 = store
            .fault_summary(&filter)
            .unwrap()
            .iter()
            .map(|s| s.total)
            .sum();
        assert_eq!(summed, expected, "{what}");
    }
}
