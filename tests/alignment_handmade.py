"""A network built by hand that stores a=b and c=d in known directions of its layer 3.

MLP 16-16-16-16-16-2 (ReLU), input [a, b, c, d] (4 items of dimension 4):
layer 1: |a_i - b_i| and |c_i - d_i| as relu(+-(a_i - b_i)) ... (16 units);
layer 2: e_ab = relu(1 - K ||a - b||_1), e_cd likewise (units 0, 1; 1 iff equal);
layer 3: h3 = relu(Q [e_ab, e_cd, 0, ...] + 2) = Q e + 2 (the offset keeps ReLU linear), so a=b
lives in direction Q[:, 0] and c=d in Q[:, 1];
layer 4: AND = relu(e_ab + e_cd - 1), e_ab, e_cd (read back through Q^T);
output: logit_1 - logit_0 = S (1 - e_ab - e_cd + 2 AND - 1/2) = S (XNOR - 1/2).
"""

from __future__ import annotations

import torch

from knowloc.models import MLP


def handmade_network(Q: torch.Tensor | None = None, K: float = 10.0, S: float = 10.0) -> MLP:
    d = 16
    Q = torch.eye(d) if Q is None else Q
    net = MLP([16, d, d, d, d, 2], "relu", init="default")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.zero_()
                m.bias.zero_()
        W1 = net.fc1.weight  # x = [a0..a3, b0..b3, c0..c3, d0..d3]
        for i in range(4):
            for s, sign in enumerate((1.0, -1.0)):
                W1[2 * i + s, i], W1[2 * i + s, 4 + i] = sign, -sign            # a=b units 0..7
                W1[8 + 2 * i + s, 8 + i], W1[8 + 2 * i + s, 12 + i] = sign, -sign  # c=d units 8..15
        net.fc2.weight[0, :8] = -K
        net.fc2.weight[1, 8:] = -K
        net.fc2.bias[:2] = 1.0
        E = torch.zeros(d, d)
        E[0, 0] = E[1, 1] = 1.0                                  # e = E h2 keeps units 0, 1
        net.fc3.weight.copy_(Q @ E)
        net.fc3.bias.fill_(2.0)
        back = Q.T                                               # e = Q^T (h3 - 2)
        net.fc4.weight[0] = back[0] + back[1]
        net.fc4.bias[0] = -1.0 - 2.0 * (back[0] + back[1]).sum()
        net.fc4.weight[1] = back[0]
        net.fc4.bias[1] = -2.0 * back[0].sum()
        net.fc4.weight[2] = back[1]
        net.fc4.bias[2] = -2.0 * back[1].sum()
        net.fc5.weight[1, :3] = torch.tensor([2.0, -1.0, -1.0]) * S
        net.fc5.bias[1] = 0.5 * S
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()
