"""One call session shared by every transport: turn-taking, playback, and the flow's actions."""
