//! `knserve serve` end to end, traffic: splits and tags, a rollout under load, and
//! `containerConcurrency` enforced in front of real app processes.

mod support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{task::JoinSet, time::Instant};

use self::support::{
    FAST_CONFIG, Knserve, answering_revision, output_text, test_app_service, with_template_name,
    with_traffic,
};

/// `count` GETs of `/` on `host`, `clients` at a time: every (status, body).
async fn load(server: &Knserve, host: &str, clients: usize, count: usize) -> Vec<(u16, String)> {
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let (ingress, host) = (server.ingress, host.to_owned());
        let share = count / clients + usize::from(client < count % clients);
        tasks.spawn(async move {
            let mut answers = Vec::with_capacity(share);
            for _ in 0..share {
                let (status, _, body) = support::send(ingress, &host, "/").await;
                answers.push((status, body));
            }
            answers
        });
    }
    let mut answers = Vec::with_capacity(count);
    while let Some(done) = tasks.join_next().await {
        answers.extend(done.expect("client task"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_80_20_split_sends_about_a_fifth_of_requests_to_v2_and_tags_reach_only_their_revision() {
    let server = Knserve::start("split", FAST_CONFIG).await;
    let v1 = with_template_name(
        &test_app_service(
            "split",
            &[("autoscaling.knative.dev/min-scale", "1")],
            &[],
            "",
        ),
        "split-v1",
    );
    server.apply("split-v1.yaml", &v1).await;
    let v2 = with_traffic(
        &with_template_name(
            &test_app_service(
                "split",
                &[("autoscaling.knative.dev/min-scale", "1")],
                &[("VERSION", "2")],
                "",
            ),
            "split-v2",
        ),
        &[("split-v1", 80, "blue"), ("split-v2", 20, "green")],
    );
    server.apply("split-v2.yaml", &v2).await;

    let answers = load(&server, "split.default.example.com", 4, 400).await;
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(failed.is_empty(), "every request is served: {failed:?}");
    let on = |revision: &str| {
        answers
            .iter()
            .filter(|(_, body)| answering_revision(body) == revision)
            .count()
    };
    let (to_v1, to_v2) = (on("split-v1"), on("split-v2"));
    assert_eq!(
        to_v1 + to_v2,
        answers.len(),
        "only the two split revisions answer"
    );
    let share = to_v2 as f64 / answers.len() as f64;
    assert!(
        (share - 0.20).abs() <= 0.07,
        "a 20% target gets 20% ± 7% of {} requests, got {share:.3} ({to_v2})",
        answers.len()
    );

    for (tag, revision) in [("green", "split-v2"), ("blue", "split-v1")] {
        let host = format!("{tag}-split.default.example.com");
        let answers = load(&server, &host, 2, 20).await;
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{host} is served: {body}");
            assert_eq!(
                answering_revision(body),
                revision,
                "tag {tag} routes only to {revision}"
            );
        }
    }
}

/// Answers of looping clients, in arrival order.
type Answers = Arc<Mutex<Vec<(u16, String)>>>;

/// `clients` tasks GETting `/` on `host` until `stop` is set.
fn loop_clients(
    server: &Knserve,
    host: &str,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> (JoinSet<()>, Answers) {
    let answers: Answers = Arc::default();
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (ingress, host, stop, answers) = (
            server.ingress,
            host.to_owned(),
            stop.clone(),
            answers.clone(),
        );
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, _, body) = support::send(ingress, &host, "/").await;
                answers.lock().unwrap().push((status, body));
            }
        });
    }
    (tasks, answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_out_a_new_revision_under_continuous_load_fails_no_request() {
    let server = Knserve::start("roll", FAST_CONFIG).await;
    let service = |version: &str| {
        test_app_service("roll", &[], &[("DELAY_MS", "20"), ("VERSION", version)], "")
    };
    server.apply("roll-1.yaml", &service("1")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (mut tasks, answers) = loop_clients(&server, "roll.default.example.com", 4, &stop);
    // The load is flowing before the rollout starts.
    let flowing = Instant::now() + Duration::from_secs(10);
    while answers.lock().unwrap().len() < 20 {
        assert!(
            Instant::now() < flowing,
            "the clients get answers before the rollout"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.apply("roll-2.yaml", &service("2")).await;

    // Until the latest 40 answers all come from the new revision.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let switched = {
            let answers = answers.lock().unwrap();
            answers.len() >= 40
                && answers[answers.len() - 40..]
                    .iter()
                    .all(|(_, body)| answering_revision(body) == "roll-00002")
        };
        if switched {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "traffic moved to roll-00002 within 20 s of apply\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = tasks.join_next().await {
        done.expect("client task");
    }

    let answers = answers.lock().unwrap();
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "a rollout fails none of {} requests, failed: {failed:?}",
        answers.len()
    );
    for revision in ["roll-00001", "roll-00002"] {
        assert!(
            answers
                .iter()
                .any(|(_, body)| answering_revision(body) == revision),
            "{revision} answered during the rollout"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_concurrency_one_never_gives_the_app_two_requests_at_once() {
    let server = Knserve::start("cc", FAST_CONFIG).await;
    let yaml = test_app_service(
        "cc",
        &[],
        &[("DELAY_MS", "100")],
        "      containerConcurrency: 1\n",
    );
    server.apply("cc.yaml", &yaml).await;

    let answers = load(&server, "cc.default.example.com", 12, 48).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "every request is served: {body}");
        assert!(
            body.trim_end().ends_with("in_flight=1"),
            "with containerConcurrency 1 the app handles one request at a time: {body}"
        );
    }

    // The app's own log of every request, read through `knserve logs`.
    let deadline = Instant::now() + Duration::from_secs(10);
    let requests = loop {
        let output = server.cli(&["logs", "cc-00001", "--tail", "1000"]).await;
        assert!(output.status.success(), "{}", output_text(&output));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let requests: Vec<String> = text
            .lines()
            .filter(|line| line.contains(" GET /"))
            .map(str::to_owned)
            .collect();
        if requests.len() >= answers.len() || Instant::now() >= deadline {
            break requests;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        requests.len() >= answers.len(),
        "`knserve logs` shows every request the app handled: {} of {}",
        requests.len(),
        answers.len()
    );
    for line in &requests {
        assert!(
            line.ends_with("in_flight=1"),
            "the app's log shows one request at a time: {line}"
        );
    }
}
