import { runSubgraph } from '../../platform/main';
import { createOrderSubgraph } from './subgraph';

runSubgraph('order', createOrderSubgraph);
