#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match loyalcast::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loyalcast: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
