pub fn run(run: &mut super::Run) {
    run.fail("not yet");
}
