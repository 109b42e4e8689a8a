import { runSubgraph } from '../../platform/main';
import { createInventorySubgraph } from './subgraph';

runSubgraph('inventory', createInventorySubgraph);
