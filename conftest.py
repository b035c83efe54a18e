"""Every test and notebook run writes to a temporary outputs tree, never to the user's outputs/."""

import os
import tempfile

os.environ["NOVA_LAB_OUTPUTS"] = tempfile.mkdtemp(prefix="nova-lab-tests-")
