/// The page served at `GET /` (placeholder until the real page lands).
enum WebPage {
    static let html = "<!doctype html><title>gpt2-edge</title><p>gpt2-edge</p>"
}
