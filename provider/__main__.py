"""The component package ``meshvis``: hosts the mesh-service components for any Pulumi program.

``pulumi package add <this folder>`` runs this file to infer the package's schema from the
components' type annotations (``pulumi.provider.experimental``) and to generate an SDK; at
``pulumi up`` the engine runs it again and it constructs each component a program declares:
``meshvis:index:EcsMeshService`` and ``meshvis:index:EksMeshService``.

The Python language host runs a plugin as ``python <plugin folder>`` (pulumi/pulumi
sdk/python/cmd/pulumi-language-python/main.go, RunPlugin @1b5949891b3c), so Python puts this
folder first on ``sys.path``, not the repository's root where ``components/`` lives: the root
goes on the path here, and the components stay where the stack program imports them from (a
package to install would be a second copy to keep in step). A clone of the whole repository,
which is what ``pulumi package add <git URL>/provider`` fetches, has both.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi.provider import main  # noqa: E402

from components.ecs.service import EcsMeshService  # noqa: E402
from components.eks.service import EksMeshService  # noqa: E402
from provider.construct import MeshComponentProvider  # noqa: E402

# The package's name: the first part of its type tokens and of its SDKs' names (pulumi_meshvis,
# @pulumi/meshvis), as DESIGN.md's `meshvis:<module>:<Name>` convention has it.
PACKAGE = "meshvis"
COMPONENTS = [EcsMeshService, EksMeshService]

if __name__ == "__main__":
    # What pulumi.provider.experimental.component_provider_host does (host.py @1b5949891b3c:
    # the plugin's arguments after its folder, version 0.0.0), with the construct path of
    # provider/construct.py in place of the SDK's ComponentProvider.
    main(MeshComponentProvider(COMPONENTS, PACKAGE, None, "0.0.0"), sys.argv[1:])
