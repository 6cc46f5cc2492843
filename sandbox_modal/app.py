"""The Modal app for session workspaces: `modal run sandbox_modal/app.py` builds the image and smoke-tests it.

Sessions never run this file: the agent-step Lambda creates sandboxes from the same image definition through
dexa.adapters.modal.ModalSandbox (one named sandbox per session in this app, on the session's own Volume
`dexa-ws-<session>` mounted at /workspace, so the files outlive the sandbox). Deploying is only needed to pre-build
the image: `modal deploy sandbox_modal/app.py`.
"""

import asyncio

import modal

from dexa.adapters.modal import APP_NAME, WORKDIR, ModalSandbox, sandbox_image

app = modal.App(APP_NAME)
image = sandbox_image(modal)


@app.local_entrypoint()
def smoke(session_id: str = "smoke-test") -> None:
    """Create a session sandbox the way the Lambdas do, check every listed toolchain (check-tools --strict) and
    the network block, end the sandbox, check the next command finds the files on the volume, then end it."""

    async def run() -> None:
        workspace = ModalSandbox(session_id, image=image, idle_timeout_s=120, lifetime_s=600)
        try:
            tools = await workspace.exec("check-tools --strict", cwd=WORKDIR)
            print(tools.stdout)
            assert tools.exit_code == 0, f"the image lacks listed tools: {tools.stdout[-500:]}"
            net = await workspace.exec(
                "curl -sS -m 5 https://example.com >/dev/null && echo online || echo offline", cwd=WORKDIR
            )
            print("network:", net.stdout.strip(), "(expected offline)")
            await workspace.write_bytes(f"{WORKDIR}/kept.txt", b"kept\n")
            await workspace.terminate()  # what the idle timeout does; the volume keeps the files
            again = await workspace.exec("cat kept.txt", cwd=WORKDIR)
            print("after a restart:", again.stdout.strip(), "(expected kept)")
        finally:
            await workspace.terminate()

    asyncio.run(run())
