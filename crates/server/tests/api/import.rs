use loyalcast_dto::{Customer, ImportReport, Page};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, json, problem};

crate::db_tests!(
    a_csv_import_reports_bad_rows_by_line_imports_the_rest_and_merges_duplicates,
    an_import_without_a_name_column_or_as_json_is_refused,
    importing_the_same_file_again_writes_nothing_and_a_changed_one_only_the_changes,
);

const FILE: &str = "\
first_name,last_name,phone,email,birthday,tags,points,visits,sms_opt_in,favourite_drink
Ann,Lee,(415) 555-2671,ann@example.com,1990-03-14,vip;regular,120,12,yes,latte
Bob,,not a phone,bob@example.com,,,,,,tea
Cara,Diaz,+1 212 555 0143,cara@example.com,1985-13-01,,,,,
Dan,Wu,,dan@example.com,,student,10,1,no,mocha
Ann,Lee,,ANN@example.com,,early-bird,,,,
,Nobody,,,,,,,,
Eve,Stone,+14155552671,eve@example.com,,,,,,
Finn,Berg,+1 (617) 555-0188,,2001-07-04,,abc,,,
";

async fn a_csv_import_reports_bad_rows_by_line_imports_the_rest_and_merges_duplicates(
    app: &TestApp,
) {
    let t = app.tenant("Import Cafe").await;
    // Dan is already a customer: his row must merge, not double.
    let dan: Customer = json(
        app.post("/api/v1/customers", &t.token, &json!({"first_name": "Dan", "email": "dan@example.com", "tags": ["morning"], "points": 40})).await,
        StatusCode::CREATED,
    )
    .await;
    let response = app.import_csv(&t.token, FILE).await;
    let report: ImportReport = json(response, StatusCode::OK).await;
    assert_eq!(report.rows, 8);
    assert_eq!(report.ignored_columns, ["favourite_drink"]);
    let lines: Vec<(u64, Vec<String>)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.errors.iter().map(|f| f.field.clone()).collect()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (3, vec!["phone".to_owned()]),
            (4, vec!["birthday".to_owned()]),
            (7, vec!["first_name".to_owned()]),
            (8, vec!["phone".to_owned()]),
            (9, vec!["points".to_owned()]),
        ]
    );
    // Eve (line 8) has Ann's phone but another name: reported, not folded into Ann.
    assert_eq!(report.errors[3].errors[0].code, "duplicate");
    // Ann (line 2) is new; line 6 is Ann again by email; Dan merges into the existing one.
    assert_eq!((report.created, report.merged), (1, 2));

    let all: Page<Customer> = json(
        app.get("/api/v1/customers?per_page=100", &t.token).await,
        StatusCode::OK,
    )
    .await;
    let mut names: Vec<String> = all.items.iter().map(|c| c.first_name.clone()).collect();
    names.sort();
    assert_eq!(names, ["Ann", "Dan"], "bad rows wrote nothing");
    let ann = all.items.iter().find(|c| c.first_name == "Ann").unwrap();
    assert_eq!(ann.phone.as_deref(), Some("+14155552671"));
    assert_eq!(ann.tags, ["early-bird", "regular", "vip"]);
    assert_eq!((ann.points, ann.visits), (120, 12));
    assert!(ann.consent.sms);
    let dan_now = all.items.iter().find(|c| c.id == dan.id).unwrap();
    assert_eq!(dan_now.tags, ["morning", "student"]);
    assert_eq!(dan_now.points, 40, "a merge never lowers a counter");
    assert!(!dan_now.consent.sms);

    // The same file again creates nobody new.
    let again = app.import_csv(&t.token, FILE).await;
    let again: ImportReport = json(again, StatusCode::OK).await;
    assert_eq!((again.created, again.merged), (0, 3));
    let total: Page<Customer> =
        json(app.get("/api/v1/customers", &t.token).await, StatusCode::OK).await;
    assert_eq!(total.total, 2);
}

async fn an_import_without_a_name_column_or_as_json_is_refused(app: &TestApp) {
    let t = app.tenant("Import Refusal Cafe").await;
    let no_name = app
        .import_csv(&t.token, "phone,email\n+14155552671,a@example.com\n")
        .await;
    problem(no_name, StatusCode::UNPROCESSABLE_ENTITY).await;
    let as_json = app
        .post("/api/v1/customers/import", &t.token, &json!({"rows": []}))
        .await;
    problem(as_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

async fn importing_the_same_file_again_writes_nothing_and_a_changed_one_only_the_changes(
    app: &TestApp,
) {
    let t = app.tenant("Reimport Cafe").await;
    let file = "first_name,phone,email,tags,points\n\
                Ann,+14155552671,ann@example.com,vip;regular,10\n\
                Bob,+14155552672,bob@example.com,,5\n\
                Cara,,cara@example.com,new,0\n";
    let first: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!(first.created, 3);
    let before = app.snapshot().await;
    let again: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!((again.created, again.merged), (0, 3));
    assert_eq!(
        app.snapshot().await,
        before,
        "not even updated_at moves for customers the file leaves as they are"
    );
    // Bob gains points and a tag; Ann and Cara are left alone.
    let changed = file.replace(
        "Bob,+14155552672,bob@example.com,,5",
        "Bob,+14155552672,bob@example.com,early,7",
    );
    let report: ImportReport = json(app.import_csv(&t.token, changed).await, StatusCode::OK).await;
    assert_eq!((report.created, report.merged), (0, 3));
    let after = app.snapshot().await;
    let moved: Vec<&str> = after
        .customers
        .iter()
        .zip(&before.customers)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.first_name.as_str())
        .collect();
    assert_eq!(moved, ["Bob"]);
    let page: Page<Customer> = json(
        app.get("/api/v1/customers?q=bob", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (page.items[0].points, page.items[0].tags.clone()),
        (7, vec!["early".to_owned()])
    );
    let page: Page<Customer> = json(
        app.get("/api/v1/customers?q=ann", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page.items[0].tags, ["regular", "vip"]);
}
